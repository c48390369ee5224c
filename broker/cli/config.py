"""Where the broker URL and API key come from: flags, then BROKER_URL/BROKER_API_KEY, then the login file."""

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from broker.cli.errors import AuthError, ConfigError


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str


def config_path(environ: dict[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/brokerctl/config.json`, else `~/.config/brokerctl/config.json`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "brokerctl" / "config.json"


def read_config_file(path: Path) -> dict[str, str]:
    """Read the login file; refuse it when group or others may read it, since it holds an API key."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"refusing to read {path}: it is readable by group/others (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}`",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"cannot read {path}: expected a JSON object")
    return {key: str(value) for key, value in data.items() if key in ("url", "api_key") and value}


def write_config_file(path: Path, *, url: str, api_key: str) -> None:
    """Write the login file with mode 0600 (its directory 0700), also when it already existed."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump({"url": url, "api_key": api_key}, handle, indent=2)
        handle.write("\n")


def resolve_config(*, url_flag: str | None, key_flag: str | None, environ: dict[str, str] | None = None) -> Config:
    """Each value from its first source; the file is only read when a flag or variable is missing."""
    env = os.environ if environ is None else environ
    url = url_flag or env.get("BROKER_URL") or ""
    api_key = key_flag or env.get("BROKER_API_KEY") or ""
    if not url or not api_key:
        stored = read_config_file(config_path(env))
        url = url or stored.get("url", "")
        api_key = api_key or stored.get("api_key", "")
    if not url:
        raise ConfigError("no broker URL: pass --url, set BROKER_URL or run `brokerctl login`")
    if not api_key:
        raise AuthError("no API key: pass --api-key, set BROKER_API_KEY or run `brokerctl login`")
    return Config(url=normalise_url(url), api_key=api_key)


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"broker URL must start with http:// or https://, got {url!r}")
    return url
