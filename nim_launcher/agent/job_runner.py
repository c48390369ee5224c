"""`gpu-broker-agent job --spec FILE`: run one worker of a batch job (DESIGN §11) and report how it ended.

1. Rendezvous: ask the broker (with the node's token) for the job's peers until every worker is up; the answer
   is the rest of the worker's environment (MASTER_ADDR, MASTER_PORT, WORLD_SIZE …, and the hosts).
2. Write it to an env file (the job's container reads it), and the MPI hostfile; fill the `$NAME`
   placeholders of the command line; run it.
3. Stream its output (stdout and stderr as they interleave) to the broker in chunks of at most
   CHUNK_BYTES. A bounded queue sits between the pipe and the sender: when the broker is slow the queue
   fills, the reader stops reading and the worker blocks on its own writes (backpressure), nothing is dropped.
   At exit the pipe is read to its end and every chunk sent before the exit code is reported; a worker
   stopped because its node shuts down (SIGTERM) reports no exit code: the broker ended that run itself.
"""

from __future__ import annotations

import argparse
import codecs
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import requests

from .options import BROKER_URL, NODE_ID, NODE_TOKEN

log = logging.getLogger(__name__)
VERB = "job"
CHUNK_BYTES = 64 * 1024
QUEUE_CHUNKS = 32  # at most QUEUE_CHUNKS × CHUNK_BYTES of output waits for the broker
TIMEOUT_S = 10
BACKOFF_MAX_S = 5.0
RENDEZVOUS_NAMES = ("GPUB_JOB_ID", "GPUB_JOB_NAME", "GPUB_WORKER_INDEX", "GPUB_WORKERS", "GPUB_RESTART_COUNT",
                    "MASTER_ADDR", "MASTER_PORT", "NNODES", "NODE_RANK", "NPROC_PER_NODE", "WORLD_SIZE", "HOSTFILE")
PLACEHOLDER = re.compile(r"\$(" + "|".join(RENDEZVOUS_NAMES) + r")\b")
AGENT_ONLY = (BROKER_URL.env, NODE_ID.env, NODE_TOKEN.env)  # never reach the worker


def exec_start(python: str, zipapp: str, spec: str) -> list[str]:
    """The wrapper's command line in a plan: paths only; the broker and token come from the agent's env file."""
    return [python, zipapp, VERB, "--spec", spec]


def rendezvous_env_path(state_dir: str) -> str:
    return f"{state_dir}/rendezvous.env"


class Broker:
    """The three calls a worker makes, each retried until the broker answers (a 4xx answer is final)."""

    def __init__(self, url: str, node_id: str, token: str, *, sleep: Callable[[float], None] = time.sleep):
        self.base = f"{url.rstrip('/')}/api/v1/nodes/{node_id}/job"
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Node {token}", "User-Agent": "gpu-broker-node-agent"})
        self.sleep = sleep

    def post(self, path: str, body: dict) -> requests.Response:
        delay = 0.5
        while True:
            try:
                response = self.session.post(f"{self.base}/{path}", json=body, timeout=TIMEOUT_S)
                if response.status_code < 500 and response.status_code != 429:
                    return response
                log.warning("job %s: HTTP %s, retrying", path, response.status_code)
            except (requests.ConnectionError, requests.Timeout) as exc:
                log.warning("job %s: %s, retrying", path, type(exc).__name__)
            self.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    def rendezvous(self) -> dict | None:
        """The peers' answer once every worker is up; None when this run is over (nothing to run)."""
        while True:
            response = self.post("rendezvous", {})
            if response.status_code == 200:
                return response.json()
            if response.status_code != 202:
                log.error("rendezvous refused: HTTP %s", response.status_code)
                return None
            self.sleep(float(response.json().get("retry_after", 1.0)))


def fill(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """`$NAME` of the rendezvous names replaced by their values; any other `$` is left as written."""
    return [PLACEHOLDER.sub(lambda m: env.get(m.group(1), m.group(0)), arg) for arg in argv]


def env_file_text(values: Mapping[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


class LogStreamer:
    """Reads a pipe into a bounded queue (one thread) and posts it in chunks, in order, with a seq (another)."""

    def __init__(self, fd: int, send: Callable[[int, str], None], *, echo=None, chunk_bytes: int = CHUNK_BYTES,
                 queue_chunks: int = QUEUE_CHUNKS):
        self.fd, self.send, self.echo, self.chunk_bytes = fd, send, echo, chunk_bytes
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_chunks)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.sender = threading.Thread(target=self._send_all, daemon=True)
        self.sent_bytes = 0

    def start(self) -> LogStreamer:
        self.reader.start()
        self.sender.start()
        return self

    def _read(self) -> None:
        while data := os.read(self.fd, self.chunk_bytes):
            if self.echo is not None:
                self.echo.write(data)
                self.echo.flush()
            self.queue.put(data)  # blocks while the queue is full: the worker then blocks on its writes
        self.queue.put(None)

    def _send_all(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        seq, done = 0, False
        while not done:
            item = self.queue.get()
            pieces, size = [], 0
            while item is not None:
                pieces.append(item)
                size += len(item)
                if size >= self.chunk_bytes:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            done = item is None
            data = b"".join(pieces)
            for start in range(0, len(data), self.chunk_bytes):
                text = decoder.decode(data[start:start + self.chunk_bytes])
                if text:
                    self.send(seq, text)
                    seq += 1
            self.sent_bytes += len(data)
        if tail := decoder.decode(b"", final=True):
            self.send(seq, tail)

    def close(self) -> None:
        """Wait until the pipe reached its end and every chunk was sent."""
        self.reader.join()
        self.sender.join()


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode  # killed by signal N → 128 + N, as a shell says


def run_worker(argv: list[str], env: dict[str, str], broker: Broker) -> int:
    """Run the command, stream its output, report its exit status (after the last chunk)."""
    try:
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
    except OSError as exc:
        broker.post("logs", {"seq": 0, "data": f"gpu-broker: cannot start {argv[0]}: {exc}\n"})
        status = 127
    else:
        stopping = threading.Event()

        def stop(*_):  # the node is shutting down (its job ended or restarts elsewhere): not the worker's failure
            stopping.set()
            process.terminate()

        signal.signal(signal.SIGTERM, stop)
        streamer = LogStreamer(process.stdout.fileno(), lambda seq, text: _send_chunk(broker, seq, text),
                               echo=sys.stdout.buffer).start()
        streamer.close()
        status = _exit_status(process.wait())
        if stopping.is_set():
            return status
    broker.post("exit", {"exit_code": status})
    return status


def _send_chunk(broker: Broker, seq: int, text: str) -> None:
    response = broker.post("logs", {"seq": seq, "data": text})
    if response.status_code >= 400:
        log.error("log chunk %d refused: HTTP %s", seq, response.status_code)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(prog=f"gpu-broker-agent {VERB}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, required=True, help="the worker's spec (argv, state dir) from the plan")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s job: %(message)s")
    missing = [name for name in AGENT_ONLY if not env.get(name)]
    if missing:
        parser.error(f"{', '.join(missing)} must be set (the agent's env file)")
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    broker = Broker(env[BROKER_URL.env], env[NODE_ID.env], env[NODE_TOKEN.env])
    answer = broker.rendezvous()
    if answer is None:
        return 0
    state_dir = Path(spec["state_dir"])
    state_dir.mkdir(parents=True, exist_ok=True)
    values = dict(answer["env"])
    if spec.get("template") == "mpi":
        hostfile = state_dir / "hostfile"
        hostfile.write_text("".join(f"{host} slots={values['NPROC_PER_NODE']}\n" for host in answer["hosts"]))
        values["HOSTFILE"] = str(hostfile)
    Path(rendezvous_env_path(str(state_dir))).write_text(env_file_text(values))
    worker_env = {name: value for name, value in env.items() if name not in AGENT_ONLY} | values
    command = fill(spec["argv"], worker_env)
    if not command:  # an MPI host: mpirun on worker 0 runs the ranks; the node stays up until the job ends
        while True:
            time.sleep(3600)
    return run_worker(command, worker_env, broker)
