"""`login`: check an API key against the broker and store it in the user config file (mode 0600)."""

import argparse
import getpass
import os
import sys
from typing import Any

from broker.cli.config import config_path, normalise_url, write_config_file
from broker.cli.context import Context
from broker.cli.errors import UsageError
from broker.cli.http import ApiClient
from broker.cli.output import emit, emit_json


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    login = subparsers.add_parser(
        "login", parents=[common], help="save the broker URL and API key for later commands",
        description="Verify an API key against the broker and save it with the URL to "
                    "$XDG_CONFIG_HOME/brokerctl/config.json (default ~/.config/brokerctl/config.json), mode 0600. "
                    "The key comes from --api-key, --api-key-stdin, BROKER_API_KEY or a hidden prompt.")
    login.add_argument("--api-key-stdin", action="store_true",
                       help="read the API key from the first line of stdin (keeps it out of the process list)")
    login.add_argument("--no-verify", action="store_true", help="save without calling the broker first")
    login.set_defaults(handler=login_command)


def _ask_url(args: argparse.Namespace) -> str:
    url = args.url or os.environ.get("BROKER_URL", "")
    if not url and sys.stdin.isatty():
        url = input("Broker URL (e.g. https://broker.example.com): ")
    if not url.strip():
        raise UsageError("no broker URL: pass --url or set BROKER_URL")
    return normalise_url(url)


def _ask_key(args: argparse.Namespace) -> str:
    if args.api_key_stdin:
        key = sys.stdin.readline()
    else:
        key = args.api_key or os.environ.get("BROKER_API_KEY", "")
        if not key and sys.stdin.isatty():
            key = getpass.getpass("API key (input hidden): ")
    if not key.strip():
        raise UsageError("no API key: pass --api-key-stdin, --api-key, set BROKER_API_KEY or run in a terminal")
    return key.strip()


def login_command(ctx: Context) -> int:
    url, key = _ask_url(ctx.args), _ask_key(ctx.args)
    if not ctx.args.no_verify:
        client = ApiClient(url, key, max_retries=ctx.args.retries, sleep=ctx.sleep, notify=ctx.progress.note)
        client.get("/api/v1/offers", {"page_size": 1})
    path = config_path()
    write_config_file(path, url=url, api_key=key)
    if ctx.json:
        emit_json({"url": url, "config_path": str(path), "verified": not ctx.args.no_verify})
    else:
        emit(f"saved credentials for {url} to {path}")
    return 0
