"""A pod's workload on its node (DESIGN §12): the user's SSH key for the login user and, optionally, JupyterLab.

JupyterLab runs as `gpu-broker-jupyter.service`, a container pinned by digest, with its token only in a
root-only env file (Jupyter Server reads `JUPYTER_TOKEN`); a drop-in gives the node agent the same file, so it
can ask Jupyter's own API which kernels are busy.

The agent asks on `127.0.0.1:8888`: `-p 8888:8888` publishes on every address of the VM, loopback included,
and loopback is the one address every node has — the IP the broker reports may not be on the VM at all (a
cloud's public address is NAT'd onto a private one) — so the token never leaves the node.
"""

import shlex

from nim_launcher.agent import options
from nim_launcher.plans.cloud_init import (
    AGENT_UNIT,
    CONFIG_DIR,
    DOCKER,
    REQUIRE_DOCKER,
    UNIT_DIR,
    PlanFile,
    Workload,
    secret_env_file,
    systemd_unit,
)

JUPYTER_PORT = 8888
JUPYTER_ENV_FILE = f"{CONFIG_DIR}/jupyter.env"
JUPYTER_UNIT = "gpu-broker-jupyter.service"
JUPYTER_CONTAINER = "gpu-broker-jupyter"
AGENT_JUPYTER_DROP_IN = f"{UNIT_DIR}/{AGENT_UNIT}.d/jupyter.conf"
JUPYTER_WORKDIR = "/home/jovyan/work"


def login_home(user: str) -> str:
    return "/root" if user == "root" else f"/home/{user}"


def authorized_keys(user: str, ssh_public_key: str) -> PlanFile:
    """Appended to the login user's keys once the image created the user (0600, owned by the user)."""
    return PlanFile(f"{login_home(user)}/.ssh/authorized_keys", ssh_public_key.strip() + "\n", "0600",
                    owner=f"{user}:{user}", defer=True, append=True)


def jupyter_run_argv(image: str, user: str) -> list[str]:
    """The container's command line: the token reaches it only through the env file."""
    return [DOCKER, "run", "--rm", "--name", JUPYTER_CONTAINER, "--gpus", "all", "--env-file", JUPYTER_ENV_FILE,
            "-p", f"{JUPYTER_PORT}:{JUPYTER_PORT}", "-v", f"{login_home(user)}:{JUPYTER_WORKDIR}", image]


def jupyter_files(image: str, user: str, token: str) -> tuple[PlanFile, ...]:
    env = secret_env_file(JUPYTER_ENV_FILE, {
        options.JUPYTER_TOKEN_ENV: token, options.JUPYTER_URL_ENV: f"http://127.0.0.1:{JUPYTER_PORT}",
    }, {options.JUPYTER_TOKEN_ENV})
    unit = systemd_unit(JUPYTER_UNIT, "JupyterLab (dev pod)", "docker.service", [
        "TimeoutStartSec=0", f"ExecStartPre=-{DOCKER} rm -f {JUPYTER_CONTAINER}",
        f"ExecStart={shlex.join(jupyter_run_argv(image, user))}", f"ExecStop={DOCKER} stop {JUPYTER_CONTAINER}",
        "Restart=always", "RestartSec=10"])
    drop_in = PlanFile(AGENT_JUPYTER_DROP_IN, f"[Service]\nEnvironmentFile=-{JUPYTER_ENV_FILE}\n")
    return env, unit, drop_in


def pod_workload(*, user: str, ssh_public_key: str, jupyter_image: str = "", jupyter_token: str = "") -> Workload:
    """The key for `user`; with a Jupyter image, JupyterLab on JUPYTER_PORT behind `jupyter_token`."""
    files: tuple[PlanFile, ...] = (authorized_keys(user, ssh_public_key),)
    if not jupyter_image:
        return Workload("the user's SSH key", files, ())
    files += jupyter_files(jupyter_image, user, jupyter_token)
    start = (REQUIRE_DOCKER, f"systemctl enable --now {JUPYTER_UNIT}")
    return Workload("the user's SSH key and JupyterLab", files, start)
