"""The simulated nodes' sshd: one SSH server (paramiko's server mode, the real protocol) for every simulated VM.

A node's API shape calls `listen` once the node runs; the server then accepts connections on the node's own
address (its loopback IP, the `ip` its API reports) at a port of its own, and finds the node by the local address
and port a client connected to. Logins are public-key only, as the user the API reports, with a key registered for
the simulated account: the account's own key (`account_private_key`, derived from the partner's slug as its token
is) or one added through the vendor's API. Any other key, a password or another user is refused. Each node has
its own host key, kept in its root (`etc/ssh/ssh_host_ed25519_key`), so it survives a simulator restart.

An `exec` request runs inside the node the way `vm.py` runs a `#!` script: in the node's root, every absolute path
under /etc, /opt, /var, /root, /srv and /home in the command moved below it, with the node's shims (`systemctl`,
`docker`, `chown`, `sudo`) first on PATH and NODE_HOST/PORT set. What the session sends on standard input is
rerooted line by line too (a plan arrives that way). Each command runs as a process group recorded beside the
node's VM, so terminating the node stops what its sessions started. No shell, pty or sftp is served.
"""

from __future__ import annotations

import hashlib
import os
import selectors
import socket
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from providers.processes import kill_group, record_process

from . import checkout
from .vm import install_shims, reroot, service_port

if TYPE_CHECKING:
    from .app import SimulatorApp

HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
ACCEPT_TICK_S = 0.1
SESSION_IDLE_S = 30.0
VM_DIRS = ("etc", "root", "var/lib", "var/log")


def account_private_key(slug: str) -> str:
    """The simulated account's SSH private key (OpenSSH PEM), derived from the slug as its token `sim-<slug>` is."""
    seed = hashlib.sha256(f"sim-ssh-{slug}".encode()).digest()
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()


def account_public_key(slug: str) -> str:
    seed = hashlib.sha256(f"sim-ssh-{slug}".encode()).digest()
    public = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


class SshServer:
    """Listening sockets on the running simulated nodes' addresses, served by one accept thread."""

    def __init__(self, app: SimulatorApp):
        self.app = app
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._by_node: dict[str, socket.socket] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="simulator-sshd", daemon=True)
        self._sessions = 0

    def start(self) -> SshServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            for sock in self._by_node.values():
                sock.close()
            self._by_node.clear()
        self._selector.close()

    def listen(self, slug: str, node: dict, user: str, port: int = 0) -> int:
        """The port the node's sshd listens on at its address (bound on the first call, at `port` or a free one:
        an API that reports no port, Seeweb's, has its nodes listen on a fixed one)."""
        with self._lock:
            sock = self._by_node.get(node["id"])
            if sock is None:
                sock = socket.create_server((node["ip"], port))
                sock.setblocking(False)
                self._by_node[node["id"]] = sock
                self._selector.register(sock, selectors.EVENT_READ, (slug, node["id"], user))
            return sock.getsockname()[1]

    def forget(self, node_id: str) -> None:
        """The node is gone: close its sshd and stop what its sessions started."""
        with self._lock:
            sock = self._by_node.pop(node_id, None)
            if sock is not None:
                self._selector.unregister(sock)
                sock.close()
        for pid_file in self.app.runtime_dir.glob(f"{node_id}.ssh-*.pid"):
            kill_group(self.app.runtime_dir, pid_file.stem)

    # -- connections -------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                ready = self._selector.select(timeout=0) if self._by_node else []
            if not ready:
                self._stopping.wait(ACCEPT_TICK_S)
                continue
            for key, _ in ready:
                try:
                    conn, _ = key.fileobj.accept()
                except OSError:  # closed by `forget` meanwhile
                    continue
                threading.Thread(target=self._serve, args=(conn, *key.data), daemon=True).start()

    def _serve(self, conn: socket.socket, slug: str, node_id: str, user: str) -> None:
        conn.setblocking(True)
        transport = paramiko.Transport(conn)
        login = _Login(self, slug, user)
        try:
            transport.add_server_key(self._host_key(node_id))
            transport.start_server(server=login)
            while transport.is_active():
                channel = transport.accept(SESSION_IDLE_S)
                if channel is None:
                    break
                command = login.command(channel.get_id())
                if command is None:
                    channel.close()
                    continue
                self._run(slug, node_id, user, command, channel)
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            transport.close()

    def _host_key(self, node_id: str) -> paramiko.PKey:
        path = self.app.runtime_dir.resolve() / node_id / HOST_KEY
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
            path.touch(mode=0o600)
            path.write_bytes(pem)
        return paramiko.Ed25519Key.from_private_key_file(str(path))

    def authorized(self, slug: str, key: paramiko.PKey) -> bool:
        offered = f"{key.get_name()} {key.get_base64()}"
        registered = [account_public_key(slug), *(k["public_key"] for k in self.app.store.ssh_keys(slug))]
        return any(" ".join(line.split()[:2]) == offered for line in registered)

    def _run(self, slug: str, node_id: str, user: str, command: str, channel: paramiko.Channel) -> None:
        """The command in the node's root, its standard streams carried over the channel, then its exit status."""
        node = self.app.store.get_node(slug, node_id)
        root = (self.app.runtime_dir / node_id).resolve()
        for directory in VM_DIRS:  # what every VM's root holds before anything runs
            (root / directory).mkdir(parents=True, exist_ok=True)
        port = service_port(node["ports"])
        shims = install_shims(root, node["ip"], port)
        env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}", "USER": user,
               "NODE_HOST": node["ip"], "NODE_PORT": str(port), "PORT": str(port),
               "PYTHONPATH": checkout.pythonpath()}
        proc = subprocess.Popen(["sh", "-c", reroot(command, root)], cwd=root, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        with self._lock:
            self._sessions += 1
            name = f"{node_id}.ssh-{self._sessions}"
        record_process(self.app.runtime_dir, name, proc.pid)
        pumps = [threading.Thread(target=_feed, args=(channel, proc.stdin, root), daemon=True),
                 threading.Thread(target=_drain, args=(proc.stdout, channel.sendall), daemon=True),
                 threading.Thread(target=_drain, args=(proc.stderr, channel.sendall_stderr), daemon=True)]
        for pump in pumps:
            pump.start()
        status = proc.wait()
        for pump in pumps[1:]:
            pump.join()
        channel.send_exit_status(status)
        channel.close()


def _feed(channel: paramiko.Channel, stdin, root: Path) -> None:
    """The session's input to the command, every complete line rerooted (paths never span lines)."""
    pending = b""
    try:
        while data := channel.recv(65536):
            head, newline, pending = (pending + data).rpartition(b"\n")
            if newline:
                stdin.write(_rerooted(head + newline, root))
        if pending:
            stdin.write(_rerooted(pending, root))
    except (OSError, EOFError):
        pass
    finally:
        try:
            stdin.close()
        except OSError:
            pass


def _rerooted(data: bytes, root: Path) -> bytes:
    return reroot(data.decode("utf-8", "surrogateescape"), root).encode("utf-8", "surrogateescape")


def _drain(stream, send) -> None:
    try:
        while chunk := stream.read1(65536):
            send(chunk)
    except (OSError, EOFError):
        pass


class _Login(paramiko.ServerInterface):
    """Public-key logins as the node's user with a key of the account; session channels with one exec each."""

    def __init__(self, server: SshServer, slug: str, user: str):
        self.server, self.slug, self.user = server, slug, user
        self._commands: dict[int, str] = {}
        self._requested: dict[int, threading.Event] = {}

    def command(self, chanid: int) -> str | None:
        """The command the client asks the channel to run, once it has asked (None: it did not in time)."""
        self._requested.setdefault(chanid, threading.Event()).wait(SESSION_IDLE_S)
        return self._commands.pop(chanid, None)

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == self.user and self.server.authorized(self.slug, key):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            self._requested.setdefault(chanid, threading.Event())
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self._commands[channel.get_id()] = command.decode("utf-8", "surrogateescape")
        self._requested.setdefault(channel.get_id(), threading.Event()).set()
        return True
