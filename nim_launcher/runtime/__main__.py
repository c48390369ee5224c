"""`python -m nim_launcher.runtime --port P [--model ID ...] [--startup-delay S]`."""

import argparse

import uvicorn

from nim_launcher.profiles import TINY_CHAT_MODEL, TINY_EMBED_MODEL, UnknownModel

from .app import RuntimeApp


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nim_launcher.runtime", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", action="append", dest="models", metavar="ID",
                        help="model id to serve (repeatable); default: the built-in chat and embedding models")
    parser.add_argument("--startup-delay", type=float, default=0.0, help="seconds before /v1/health/ready is 200")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed tokens")
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        app = RuntimeApp(args.models or [TINY_CHAT_MODEL, TINY_EMBED_MODEL],
                         startup_delay=args.startup_delay, token_delay=args.token_delay)
    except UnknownModel as exc:
        raise SystemExit(f"error: {exc}") from None
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False,
                lifespan="on")


if __name__ == "__main__":
    main()
