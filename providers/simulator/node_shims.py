"""`systemctl`, `docker`, `chown` and `sudo` on a simulated VM: the subset a launch plan uses, mapped to local processes.

systemctl: `daemon-reload`, `enable [--now]`, `start`, `stop`, `restart`, `is-active` on unit files below
the node's root (with its `<unit>.d/*.conf` drop-ins); a unit runs as systemd runs it — a clean environment
plus its `EnvironmentFile=`s (a loopback URL to a port the node's containers publish moved to the node's
address: see `node_loopback`), `ExecStartPre=` (a leading `-` ignores failure), then `ExecStart=` in the
background (no restarts).
docker: `run` starts the simulator's container runtime (the NIM runtime in place of a NIM image) with
the container's `--env-file`/`-e` variables, serving on the node's address and the port `-p` maps; a container
given `JUPYTER_TOKEN` is a JupyterLab image and runs the Jupyter Server double instead; another image with a
command after it runs that command here (a job's worker, on the node's address); `login`, `pull`,
`rm -f`, `stop` act on those processes. Everything stays in the VM's process group, so terminating
the node stops it all.

chown: accepted and not applied (the VM has no users of its own).
base64: `-d`/`--decode` writes the decoded text with its paths moved below the node's root, as the VM moves the
paths of the script itself (a plan that unpacks a script from base64, as a Yotta pod's command does, stays inside
the node); anything else is the system's base64.
sudo: runs its command as it is (the VM has no users of its own: everything already runs as its one user).

    python -m providers.simulator.node_shims systemctl|docker|chown|base64|sudo ARGS...
"""

from __future__ import annotations

import binascii
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

UNIT_DIR = "etc/systemd/system"
RUN_DIR = ".sim/run"
LOG_DIR = "var/log"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A path starts after anything but a word, a dot, `~`, `/` or `-`; `=-/etc/…` too (systemd's optional file).
REROOTED = re.compile(r"(?:(?<![\w.~/-])|(?<==-))/(?=(?:etc|opt|var|root|srv|home)(?:/|\b))")
LOOPBACK_URL = re.compile(r"(?<=://)(?:127\.0\.0\.1|localhost):(\d+)\b")
# The NIM runtime in place of every NIM image: it serves the model named by NIM_SERVED_MODEL_NAME.
CONTAINER_COMMAND = [sys.executable, "-m", "nim_launcher.runtime"]
JUPYTER_COMMAND = [sys.executable, "-m", "providers.simulator.jupyter_double"]


def _root() -> Path:
    return Path(os.environ["GPUB_SIM_ROOT"])


def _fail(tool: str, message: str, status: int = 1) -> int:
    sys.stderr.write(f"{tool} (simulated): {message}\n")
    return status


# -- processes ---------------------------------------------------------------------------------------
def _pid_file(kind: str, name: str) -> Path:
    return _root() / RUN_DIR / f"{kind}-{name}.pid"


def _running(kind: str, name: str) -> int | None:
    try:
        pid = int(_pid_file(kind, name).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    stat = Path(f"/proc/{pid}/stat")
    if stat.is_file() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
        return None
    return pid


def _stop(kind: str, name: str) -> None:
    pid = _running(kind, name)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    _pid_file(kind, name).unlink(missing_ok=True)


def _spawn(kind: str, name: str, argv: list[str], env: dict[str, str]) -> int:
    (_root() / RUN_DIR).mkdir(parents=True, exist_ok=True)
    (_root() / LOG_DIR).mkdir(parents=True, exist_ok=True)
    with open(_root() / LOG_DIR / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=_root())
    _pid_file(kind, name).write_text(str(proc.pid))
    return proc.pid


# -- systemctl ---------------------------------------------------------------------------------------
def read_unit(path: Path) -> dict[str, list[str]]:
    """`[Service]` keys → their values in order (keys such as ExecStartPre may repeat), drop-ins last."""
    section, service = "", {}
    drop_ins = sorted(path.with_name(f"{path.name}.d").glob("*.conf"))
    lines = [line for file in (path, *drop_ins) for line in file.read_text().splitlines()]
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line:
            key, _, value = line.partition("=")
            service.setdefault(key.strip(), []).append(value.strip())
    return service


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip().strip('"')
    return env


def unit_env(service: dict[str, list[str]]) -> dict[str, str]:
    """What systemd gives a service: a clean environment plus Environment= and EnvironmentFile=."""
    env = {"PATH": f"{_root() / '.sim/bin'}{os.pathsep}{BASE_PATH}", "LANG": "C.UTF-8", "HOME": str(_root())}
    for item in service.get("Environment", []):
        env.update(pair.split("=", 1) for pair in shlex.split(item) if "=" in pair)
    for item in service.get("EnvironmentFile", []):
        optional, path = item.startswith("-"), Path(item.lstrip("-"))
        if path.is_file():
            env.update(read_env_file(path))
        elif not optional:
            raise FileNotFoundError(f"EnvironmentFile {path} is missing")
    return node_loopback(env)


def node_loopback(env: dict[str, str]) -> dict[str, str]:
    """The node's loopback as its services see it: `127.0.0.1:P` (or `localhost:P`) is the node's own address.

    On a real VM `docker run -p P:P` publishes on every address of the VM, loopback included, so a service there
    reaches the container on 127.0.0.1:P. Simulated nodes share this machine's loopback and each container listens
    on its node's own 127.x address, so a unit's loopback URL to a port this node's containers publish is moved
    to that address; any other loopback URL (the broker on this machine) stays as it is.
    """
    ports = published_ports()
    host = os.environ["GPUB_SIM_NODE_HOST"]
    return {name: LOOPBACK_URL.sub(lambda m: f"{host}:{m[1]}" if m[1] in ports else m[0], value)
            for name, value in env.items()}


def published_ports() -> set[str]:
    """The host ports the node's units publish with `docker run -p` (its plan wrote every unit first)."""
    ports = set()
    for path in (_root() / UNIT_DIR).glob("*.service"):
        for line in read_unit(path).get("ExecStart", []):
            argv = _command(line)[1]
            if Path(argv[0]).name != "docker" or argv[1:2] != ["run"]:
                continue
            try:
                ports.add(published_port(parse_run(argv[2:])[0]))
            except (ValueError, IndexError):
                continue
    return ports - {""}


def _command(line: str) -> tuple[bool, list[str]]:
    ignore_failure = line.startswith("-")
    argv = shlex.split(line.lstrip("-@+!"))
    if Path(argv[0]).name in ("docker", "systemctl"):
        argv[0] = str(_root() / ".sim/bin" / Path(argv[0]).name)
    return ignore_failure, argv


def start_unit(unit: str) -> int:
    path = _root() / UNIT_DIR / unit
    if not path.is_file():
        return _fail("systemctl", f"Unit {unit} not found.", 5)
    if _running("unit", unit):
        return 0
    service = read_unit(path)
    try:
        env = unit_env(service)
    except FileNotFoundError as exc:
        return _fail("systemctl", f"{unit}: {exc}")
    for line in service.get("ExecStartPre", []):
        ignore_failure, argv = _command(line)
        if subprocess.run(argv, env=env, cwd=_root(), stdin=subprocess.DEVNULL).returncode and not ignore_failure:
            return _fail("systemctl", f"{unit}: ExecStartPre failed: {line}")
    if not service.get("ExecStart"):
        return _fail("systemctl", f"{unit} has no ExecStart")
    _spawn("unit", unit, _command(service["ExecStart"][-1])[1], env)
    return 0


def systemctl(args: list[str]) -> int:
    if not args:
        return _fail("systemctl", "no command")
    command, rest = args[0], args[1:]
    units = [a for a in rest if not a.startswith("-")]
    if command == "daemon-reload":
        return 0
    if command == "enable":
        return max((start_unit(u) for u in units), default=0) if "--now" in rest else 0
    if command in ("start", "restart"):
        if command == "restart":
            for unit in units:
                _stop("unit", unit)
        return max((start_unit(u) for u in units), default=0)
    if command in ("stop", "disable"):
        for unit in units:
            _stop("unit", unit)
        return 0
    if command == "is-active":
        active = all(_running("unit", u) for u in units)
        print("active" if active else "inactive")
        return 0 if active else 3
    return _fail("systemctl", f"unsupported command {command!r}")


# -- docker ------------------------------------------------------------------------------------------
VALUE_OPTIONS = {"--name", "--gpus", "--shm-size", "--env-file", "-e", "--env", "-v", "--volume", "-p", "--publish",
                 "--restart", "--network", "--ipc", "--ulimit", "-u", "--user", "-w", "--workdir"}


def parse_run(args: list[str]) -> tuple[dict[str, list[str]], set[str], str, list[str]]:
    """`docker run` options (name → values), flags, the image and the command given after it."""
    options: dict[str, list[str]] = {}
    flags: set[str] = set()
    index = 0
    while index < len(args) and args[index].startswith("-"):
        arg = args[index]
        name, eq, value = arg.partition("=")
        if name in VALUE_OPTIONS:
            if not eq:
                index += 1
                value = args[index]
            options.setdefault(name, []).append(value)
        else:
            flags.add(arg)
        index += 1
    if index >= len(args):
        raise ValueError("docker run needs an image")
    return options, flags, args[index], args[index + 1:]


def container_env(options: dict[str, list[str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for path in options.get("--env-file", []):
        env.update(read_env_file(Path(path)))
    for item in options.get("-e", []) + options.get("--env", []):
        name, eq, value = item.partition("=")
        env[name] = value if eq else os.environ.get(name, "")
    return env


def published_port(options: dict[str, list[str]]) -> str:
    """The host port of the first `-p HOST:CONTAINER` (the node's own address is the host side)."""
    published = (options.get("-p") or options.get("--publish") or [""])[0]
    return published.split(":")[-2] if published.count(":") else published


def docker_run(args: list[str]) -> int:
    try:
        options, flags, image, command = parse_run(args)
    except (ValueError, IndexError) as exc:
        return _fail("docker", str(exc), 125)
    env = container_env(options)
    model = env.get("NIM_SERVED_MODEL_NAME")
    if "JUPYTER_TOKEN" in env:
        argv = [*JUPYTER_COMMAND, "--host", os.environ["GPUB_SIM_NODE_HOST"], "--port", published_port(options)]
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    elif model:
        argv = [*CONTAINER_COMMAND, "--host", os.environ["GPUB_SIM_NODE_HOST"],
                "--port", os.environ["GPUB_SIM_NODE_PORT"], "--model", model]
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    elif command:  # any other image with a command: the command runs here, on the node's address, as in the image
        argv, full_env = command, {"PATH": os.environ.get("PATH", BASE_PATH), "HOME": str(_root()), **env}
    else:
        return _fail("docker", f"cannot run {image}: only NIM images, JupyterLab images (JUPYTER_TOKEN) or a command "
                               "after the image are simulated", 125)
    name = (options.get("--name") or [image.replace("/", "_")])[-1]
    if _running("container", name):
        return _fail("docker", f'the container name "/{name}" is already in use', 125)
    if "-d" in flags or "--detach" in flags:
        print(f"{_spawn('container', name, argv, full_env):064x}")
        return 0
    (_root() / RUN_DIR).mkdir(parents=True, exist_ok=True)
    _pid_file("container", name).write_text(str(os.getpid()))
    os.execvpe(argv[0], argv, full_env)  # in the foreground, as `docker run` without -d


def docker(args: list[str]) -> int:
    if not args:
        return _fail("docker", "no command")
    command, rest = args[0], args[1:]
    if command == "run":
        return docker_run(rest)
    if command == "login":
        sys.stdin.read()
        print("Login Succeeded")
        return 0
    if command == "pull":
        return 0
    if command in ("rm", "stop", "kill"):
        for name in (a for a in rest if not a.startswith("-")):
            _stop("container", name)
        return 0
    return _fail("docker", f"unsupported command {command!r}")


def chown(args: list[str]) -> int:
    """The simulated VM has no users of its own: ownership is not applied (the files stay the simulator's)."""
    return 0 if len(args) >= 2 else _fail("chown", "usage: chown OWNER FILE...", 1)


def base64_tool(args: list[str]) -> int:
    """Decode (stdin or a file) with the node's paths moved below its root; encode with the system's base64."""
    if not {"-d", "--decode"} & set(args):
        return subprocess.run(["base64", *args], env={**os.environ, "PATH": BASE_PATH}).returncode
    files = [a for a in args if not a.startswith("-")]
    data = Path(files[0]).read_bytes() if files else sys.stdin.buffer.read()
    try:
        decoded = binascii.a2b_base64(data)
    except binascii.Error as exc:
        return _fail("base64", f"invalid input: {exc}")
    try:
        sys.stdout.write(REROOTED.sub(f"{_root().as_posix()}/", decoded.decode()))
    except UnicodeDecodeError:
        sys.stdout.buffer.write(decoded)
    return 0


SUDO_VALUE_OPTIONS = {"-u", "--user", "-g", "--group", "-C", "--close-from", "-D", "--chdir", "-h", "--host"}


def sudo(args: list[str]) -> int:
    """`sudo [options] COMMAND...`: the options are dropped and COMMAND runs in place of this process."""
    index = 0
    while index < len(args) and args[index].startswith("-"):
        if args[index] == "--":
            index += 1
            break
        index += 2 if args[index] in SUDO_VALUE_OPTIONS else 1
    if index >= len(args):
        return _fail("sudo", "usage: sudo [options] COMMAND...", 1)
    os.execvp(args[index], args[index:])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    tools = {"systemctl": systemctl, "docker": docker, "chown": chown, "base64": base64_tool, "sudo": sudo}
    if not argv or argv[0] not in tools:
        return _fail("node_shims", "usage: node_shims systemctl|docker|chown|base64|sudo ARGS...", 2)
    return tools[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
