"""The API over HTTP on the production servers: POST /api/v1/match and GET /api/v1/gpus, keep-alive, no cache.

Also times the same requests in-process layer by layer (full Django stack, without middleware, the DRF view
alone, the engine alone) to show where the milliseconds go.

Run: .venv/bin/python -m benchmarks.web_api [--servers gunicorn-gthread,uvicorn] [--workers 2] [--requests 2000]
     [--offers 100000] [--skip-load] [--output var/bench/web_api.json]
Needs PostgreSQL (BENCH_DATABASE_URL, as benchmarks.offers_api). Prints JSON.
"""

import argparse
import io
import json
import os
import statistics
import time

from benchmarks.http_load import SERVERS, drive, emit, machine, start_server
from benchmarks.matching import API_BODIES
from benchmarks.offers_api import DEFAULT_DATABASE, ensure_database, prepare


def api_token() -> str:
    from marketplace.services.api_keys import api_key_create, workspace_ensure

    workspace, user = workspace_ensure(name="bench", owner_email="bench@example.test")
    return api_key_create(workspace=workspace, user=user)[1]


def http_runs(server: str, *, workers: int, threads: int, requests: int, token: str, database_url: str) -> dict:
    env = {"DATABASE_URL": database_url, "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    web = start_server(server, env, workers=workers, threads=threads)
    auth = {"Authorization": f"Bearer {token}"}
    bodies = [json.dumps(body).encode() for body in API_BODIES.values()]
    post_headers = {**auth, "Content-Type": "application/json"}
    turn = [0]

    def match_request():
        turn[0] += 1
        return "POST", "/api/v1/match", bodies[turn[0] % len(bodies)], post_headers

    runs = {}
    try:
        drive(web.port, match_request, total=100 * workers, concurrency=2 * workers)  # every worker's index
        for name, make in (("match", match_request), ("gpus", lambda: ("GET", "/api/v1/gpus", None, auth))):
            for concurrency in (1, 8):
                cpu = web.cpu_s()
                result = drive(web.port, make, total=requests, concurrency=concurrency)
                result["server_cpu_ms_per_request"] = round((web.cpu_s() - cpu) * 1000 / requests, 3)
                runs[f"{name}_c{concurrency}"] = result
    finally:
        web.stop()
    return {"config": {"server": SERVERS[server], "server_kind": server, "workers": workers, "threads": threads,
                       "keep_alive": True, "api_key_cache_ttl_s": float(os.environ.get("API_KEY_CACHE_TTL_S", 2))},
            **runs}


def breakdown(token: str, rounds: int) -> dict:
    """Per-request time of each layer, in-process (no sockets): full stack, no middleware, view, engine."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings
    from django.urls import resolve

    from marketplace.api.match import parse_match_request
    from marketplace.matching import match
    from marketplace.selectors.offer_index import get_offer_index

    body = json.dumps(API_BODIES["eu_sovereign"]).encode()

    def environ(method: str, path: str, payload: bytes = b"") -> dict:
        return {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(payload),
                "CONTENT_LENGTH": str(len(payload)), "CONTENT_TYPE": "application/json",
                "HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1"}

    def through(handler, method, path, payload=b""):
        return lambda: handler(environ(method, path, payload), lambda status, headers: None)

    def view_only(method, path, payload=b""):
        from django.core.handlers.wsgi import WSGIRequest

        func = resolve(path).func
        def call():
            response = func(WSGIRequest(environ(method, path, payload)))
            return response.render() if hasattr(response, "render") else response  # DRF Response or plain

        return call

    full = WSGIHandler()
    with override_settings(MIDDLEWARE=[]):
        bare = WSGIHandler()
    index = get_offer_index()
    request, limit = parse_match_request(json.loads(body))
    layers = {
        "match_full_stack": through(full, "POST", "/api/v1/match", body),
        "match_no_middleware": through(bare, "POST", "/api/v1/match", body),
        "match_drf_view_only": view_only("POST", "/api/v1/match", body),
        "match_engine_only": lambda: match(request, index, limit=limit),
        "gpus_full_stack": through(full, "GET", "/api/v1/gpus"),
        "gpus_no_middleware": through(bare, "GET", "/api/v1/gpus"),
        "gpus_drf_view_only": view_only("GET", "/api/v1/gpus"),
    }
    out = {}
    for name, call in layers.items():
        call()
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        out[name] = {"median_ms": round(statistics.median(samples), 4)}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="gunicorn-gthread,uvicorn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--skip-load", action="store_true", help="reuse the catalogue already in the database")
    parser.add_argument("--breakdown-rounds", type=int, default=300)
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args(argv)
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    os.environ.setdefault("DB_CONN_MAX_AGE", "300")  # the in-process breakdown as the web process runs
    ensure_database(database_url)
    if args.skip_load:
        os.environ["DATABASE_URL"] = database_url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
        import django

        django.setup()
    else:
        prepare(database_url, args.offers)
    token = api_token()
    report = {"benchmark": "web_api", "offers": args.offers, "database": "postgresql", "response_cache": "none",
              "servers": {kind: http_runs(kind, workers=args.workers, threads=args.threads, requests=args.requests,
                                          token=token, database_url=database_url)
                          for kind in args.servers.split(",")},
              "in_process_breakdown": breakdown(token, args.breakdown_rounds), "machine": machine()}
    emit(report, args.output)


if __name__ == "__main__":
    main()
