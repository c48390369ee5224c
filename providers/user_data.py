"""A launch plan in the form a partner's startup field takes: `#cloud-config` rewritten as a bash script.

Some partners start a node with a shell command instead of cloud-init user data (Vast's `onstart`, Lium's
`startup_commands`, JarvisLabs' startup scripts, Yotta's `initializationCommand`), and some take no startup
field at all, so the plan reaches the node over SSH. They all run the same plan cloud-init would:
`write_files` (the deferred ones after the others, as cloud-init's final stage writes them before it runs
`runcmd`), then every `runcmd` entry in order, going on after a failure as cloud-init does; the script exits
with the first failure's status. A key with no script form is refused rather than silently dropped.
"""

from __future__ import annotations

import shlex

import yaml

CLOUD_CONFIG = "#cloud-config"
FILE_KEYS = {"path", "content", "permissions", "owner", "append", "defer"}
TOP_KEYS = {"write_files", "runcmd"}
DELIMITER = "GPUB_EOF"


def shell_script(user_data: str) -> str:
    """`user_data` as a `#!/bin/bash` script; a script (or nothing) is returned as it is."""
    if not user_data.startswith(CLOUD_CONFIG):
        return user_data
    config = yaml.safe_load(user_data) or {}
    if unknown := sorted(set(config) - TOP_KEYS):
        raise ValueError(f"cloud-config keys without a script form: {', '.join(unknown)}")
    files = config.get("write_files") or []
    ordered = [f for f in files if not f.get("defer")] + [f for f in files if f.get("defer")]
    lines = ["#!/bin/bash", "# The node's cloud-config as a script: write_files, then runcmd.", "set -u", "umask 022",
             "set -e"]
    for entry in ordered:
        lines += _write_file(entry)
    lines += ["set +e", "status=0"]
    for command in config.get("runcmd") or []:
        line = shlex.join(str(a) for a in command) if isinstance(command, list) else f"sh -c {shlex.quote(command)}"
        lines.append(f'{line} || {{ rc=$?; [ "$status" -ne 0 ] || status=$rc; }}')
    lines += ['exit "$status"', ""]
    return "\n".join(lines)


def _write_file(entry: dict) -> list[str]:
    if unknown := sorted(set(entry) - FILE_KEYS):
        raise ValueError(f"write_files keys without a script form: {', '.join(unknown)}")
    path = shlex.quote(str(entry["path"]))
    content = str(entry.get("content", ""))
    redirect = ">>" if entry.get("append") else ">"
    lines = [f"mkdir -p -- \"$(dirname -- {path})\""]
    if not content:
        lines.append(f": {redirect} {path}")
    else:
        delimiter = _delimiter(content)
        if content.endswith("\n"):
            lines += [f"cat {redirect} {path} <<'{delimiter}'", content + delimiter]
        else:  # a heredoc ends its last line; the command substitution takes that newline off again
            lines += [f"printf '%s' \"$(cat <<'{delimiter}'", content, delimiter, f')" {redirect} {path}']
    lines.append(f"chmod {shlex.quote(str(entry.get('permissions', '0644')))} {path}")
    if owner := entry.get("owner"):
        lines.append(f"chown {shlex.quote(str(owner))} {path}")
    return lines


def _delimiter(content: str) -> str:
    taken = set(content.splitlines())
    delimiter, n = DELIMITER, 0
    while delimiter in taken:
        n += 1
        delimiter = f"{DELIMITER}_{n}"
    return delimiter
