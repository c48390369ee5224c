"""Where an API request's milliseconds go: each endpoint through Django's WSGI handler, in-process, profiled.

For each endpoint: CPU per request without the profiler, then, under cProfile with a CPU-time clock, the CPU of
each layer per request — middleware (all of it, outside the view), view dispatch (DRF's request wrapping,
negotiation, authentication, permissions), the endpoint's own code, the database driver, JSON encoding — and the
functions costing most of their own CPU. CPU time, not wall time: the machine's other load does not inflate it.

Run: .venv/bin/python -m benchmarks.profile_api [--requests 300] [--top 12] [--output var/bench/profile.json]
Needs the catalogue benchmarks.offers_api loaded (BENCH_DATABASE_URL). Prints JSON.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import time
from collections.abc import Callable

from benchmarks.http_load import emit, machine
from benchmarks.matching import API_BODIES
from benchmarks.offers_api import DEFAULT_DATABASE, distinct_queries

# (label, match on (file, function)): cumulative CPU of the outermost matching call
LAYERS = {
    "whole_request": ("django/core/handlers/wsgi.py", "__call__"),
    "inside_middleware": ("django/core/handlers/base.py", "_get_response"),
    "view_dispatch": ("rest_framework/views.py", "dispatch"),
    "drf_initial": ("rest_framework/views.py", "initial"),
    "database_driver": ("psycopg/cursor.py", "execute"),
    "json_encoding": ("json/encoder.py", "encode"),
}
HANDLERS = {"offers": ("marketplace/api/catalog.py", "list"), "gpus": ("marketplace/api/catalog.py", "list"),
            "match": ("marketplace/api/match.py", "post")}


def environ(method: str, path: str, query: str = "", body: bytes = b"", token: str = "") -> dict:
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
           "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
           "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1"}
    if body:
        env["CONTENT_TYPE"] = "application/json"
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return env


def endpoints(token: str) -> dict[str, Callable[[], dict]]:
    queries = distinct_queries(seed=11)
    bodies = [json.dumps(body).encode() for body in API_BODIES.values()]
    turn = iter(range(10 ** 9))
    return {
        "offers": lambda: environ("GET", "/api/v1/offers", next(queries)),
        "gpus": lambda: environ("GET", "/api/v1/gpus", token=token),
        "match": lambda: environ("POST", "/api/v1/match", body=bodies[next(turn) % len(bodies)], token=token),
    }


def profile(handler, make: Callable[[], dict], requests: int, top: int, own_code: tuple[str, str]) -> dict:
    def call() -> None:
        b"".join(handler(make(), lambda status, headers: None))

    for _ in range(50):
        call()
    started = time.process_time()
    for _ in range(requests):
        call()
    cpu_ms = (time.process_time() - started) * 1000 / requests
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    layers = {name: _cumulative(stats, where) * 1000 / requests for name, where in {**LAYERS, "endpoint_code": own_code}.items()}
    # The profiler's own clock reads inflate every call alike: its shares, scaled to the unprofiled CPU, are
    # the estimate of each layer's milliseconds.
    scale = cpu_ms / (layers["whole_request"] or 1.0)
    estimate = {name: round(ms * scale, 3) for name, ms in layers.items()}
    estimate["middleware"] = round(estimate["whole_request"] - estimate["inside_middleware"], 3)
    own = sorted(((row[2], func) for func, row in stats.items()), reverse=True)[:top]
    return {"cpu_ms_per_request": round(cpu_ms, 3), "estimated_cpu_ms_per_layer": estimate,
            "top_own_cpu_share": [{"function": f"{_short(func[0])}:{func[1]}({func[2]})",
                                   "share": round(seconds * 1000 / requests / layers["whole_request"], 4)}
                                  for seconds, func in own]}


def _cumulative(stats: dict, where: tuple[str, str]) -> float:
    path, name = where
    return max((row[3] for func, row in stats.items() if func[0].endswith(path) and func[2] == name), default=0.0)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/", "python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    os.environ.setdefault("DB_CONN_MAX_AGE", "60")  # as the web process runs (broker/gunicorn_conf.py)
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    from benchmarks.web_api import api_token

    handler = WSGIHandler()
    token = api_token()
    report = {"benchmark": "profile_api", "config": {"handler": "Django WSGIHandler in-process (no sockets)",
                                                     "settings": "production middleware, DEBUG off",
                                                     "response_cache": "none", "offers": "distinct queries",
                                                     "clock": "process CPU time"},
              "endpoints": {name: profile(handler, make, args.requests, args.top, HANDLERS[name])
                            for name, make in endpoints(token).items()},
              "machine": machine()}
    emit(report, args.output)


if __name__ == "__main__":
    main()
