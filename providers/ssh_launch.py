"""Starting a node's launch plan over SSH, for partners whose create call takes no startup script or user data.

This is how SkyPilot and dstack provision such clouds: once the partner reports the node running, the broker logs
in with the partner account's private key (its public half is registered at the partner), sends the plan (the
cloud-config as its bash script, `user_data.shell_script`) on the session's standard input, never on a command
line, and starts it detached, with `sudo` unless the login user is root. The node keeps the script as
`/var/lib/gpu-broker/plan.sh` and its output in `/var/log/gpu-broker-plan.log`. The remote command is a constant:
it stores the script only when it arrived whole (its last line is `PLAN_END`), then creates the marker directory
`/var/lib/gpu-broker/plan.started` with `mkdir` (atomic), so a second delivery, or two at once, start it once.

Host keys are trusted on first use: `deliver_plan` returns the fingerprint (OpenSSH's `SHA256:…`) of the key the
node presented; the caller records it with the node and passes it to a later delivery, which refuses any other key.

Errors: a refused or timed-out connection, a dropped session or a plan cut short are `transient` (the node is
still booting its sshd); a refused key or a changed host key are `auth_failed`; a remote command that fails
otherwise (no passwordless sudo, a full disk) is `invalid_request`. Neither the key nor the plan is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shlex
from dataclasses import dataclass

import paramiko

from .base import AUTH_FAILED, INVALID_REQUEST, TRANSIENT, ProviderError, SshTarget
from .user_data import shell_script

PLAN_DIR = "/var/lib/gpu-broker"
PLAN_LOG = "/var/log/gpu-broker-plan.log"
PLAN_END = "# end of the gpu-broker plan"
INCOMPLETE = 3  # the remote command's exit status when the plan arrived cut short
KEY_TYPES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)
# Reads the plan from stdin, keeps it only when whole, starts it once (the marker), detached, logging to PLAN_LOG.
REMOTE_COMMAND = f"""set -u
d={PLAN_DIR}
mkdir -p "$d" && chmod 700 "$d" || exit 1
umask 077
cat > "$d/plan.sh.new" || exit {INCOMPLETE}
[ "$(tail -n 1 "$d/plan.sh.new")" = {shlex.quote(PLAN_END)} ] || {{ echo "the plan arrived incomplete" >&2; exit {INCOMPLETE}; }}
if ! mkdir "$d/plan.started" 2>/dev/null; then rm -f "$d/plan.sh.new"; echo already-started; exit 0; fi
mv "$d/plan.sh.new" "$d/plan.sh" && chmod 700 "$d/plan.sh" || exit 1
nohup "$d/plan.sh" >> {PLAN_LOG} 2>&1 < /dev/null &
echo started
"""


@dataclass(frozen=True)
class Delivery:
    started: bool  # False: an earlier delivery had started the plan already
    host_key: str  # the node's host key fingerprint, to pass to the next delivery


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def load_private_key(pem: str) -> paramiko.PKey:
    """The key of an OpenSSH or PEM private key text (Ed25519, ECDSA or RSA, unencrypted)."""
    for key_type in KEY_TYPES:
        try:
            return key_type.from_private_key(io.StringIO(pem))
        except (paramiko.SSHException, ValueError, TypeError):
            continue
    raise ProviderError(INVALID_REQUEST, "the SSH private key cannot be read (an unencrypted Ed25519, ECDSA or RSA "
                                         "key in OpenSSH or PEM form is needed)")


def remote_command(user: str) -> str:
    """The command the login runs: the constant plan starter, under `sudo` unless the user is root."""
    command = f"sh -c {shlex.quote(REMOTE_COMMAND)}"
    return command if user == "root" else f"sudo -n {command}"


def deliver_plan(target: SshTarget, user_data: str, *, host_key: str = "", timeout: float = 20.0) -> Delivery:
    """Log in to `target`, hand the plan over and start it unless a delivery already did."""
    script = shell_script(user_data)
    if not script.startswith("#!"):
        raise ProviderError(INVALID_REQUEST, "the launch plan is neither #cloud-config nor a #! script")
    payload = (script.rstrip("\n") + f"\n{PLAN_END}\n").encode()
    client = paramiko.SSHClient()
    seen = _TrustOnFirstUse(host_key)
    client.set_missing_host_key_policy(seen)
    try:
        client.connect(target.host, target.port, username=target.user, pkey=load_private_key(target.private_key),
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, allow_agent=False,
                       look_for_keys=False)
        status, output, errors = _run(client, remote_command(target.user), payload, timeout)
    except ProviderError:
        raise
    except paramiko.AuthenticationException as exc:
        raise ProviderError(AUTH_FAILED, f"{_where(target)} refused the partner account's SSH key") from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:  # refused, timed out, dropped, no banner yet
        raise ProviderError(TRANSIENT, f"{_where(target)} is not reachable over SSH yet: {type(exc).__name__}") from exc
    finally:
        client.close()
    if status == INCOMPLETE:
        raise ProviderError(TRANSIENT, f"{_where(target)}: the plan arrived incomplete")
    if status != 0:
        raise ProviderError(INVALID_REQUEST, f"{_where(target)} did not start the plan (exit status {status}): "
                                             f"{errors.strip()[-300:]}")
    return Delivery(started=output.strip().endswith("started") and "already" not in output, host_key=seen.fingerprint)


def _run(client: paramiko.SSHClient, command: str, stdin: bytes, timeout: float) -> tuple[int, str, str]:
    """Run `command` with `stdin`; (exit status, output, errors). A stalled read raises TimeoutError."""
    channel = client.get_transport().open_session(timeout=timeout)
    channel.settimeout(timeout)
    try:
        channel.exec_command(command)
        channel.sendall(stdin)
        channel.shutdown_write()
        output, errors = channel.makefile("rb").read(), channel.makefile_stderr("rb").read()
        if not channel.status_event.wait(timeout):
            raise TimeoutError("no exit status")
        return channel.recv_exit_status(), output.decode(errors="replace"), errors.decode(errors="replace")
    finally:
        channel.close()


def _where(target: SshTarget) -> str:
    return f"{target.user}@{target.host}:{target.port}"


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Accept the node's host key the first time (no fingerprint known) and only the same key afterwards."""

    def __init__(self, expected: str):
        self.expected, self.fingerprint = expected, ""

    def missing_host_key(self, client, hostname, key) -> None:
        self.fingerprint = fingerprint(key)
        if self.expected and self.fingerprint != self.expected:
            raise ProviderError(AUTH_FAILED, f"{hostname} presented host key {self.fingerprint}, not the "
                                             f"{self.expected} it presented before")
