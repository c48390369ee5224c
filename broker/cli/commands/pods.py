"""`pod create|list|ssh|stop|start|terminate`: dev pods (DESIGN §12)."""

import argparse
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

from broker.cli.commands.common import (
    ENDED,
    add_idempotency_option,
    add_wait_options,
    failure_error,
    find_live,
    idempotency_key,
    list_live,
    timeout_message,
    wait_resource,
)
from broker.cli.commands.rentals import read_public_key
from broker.cli.context import Context
from broker.cli.errors import ResourceFailed, UsageError, WaitTimeout
from broker.cli.output import emit, emit_json, money
from broker.cli.placement import add_policy_options, add_shape_options, placement_request, positive_float

PODS = "/api/v1/pods"
DEFAULT_KEY = Path("~/.ssh/id_ed25519.pub")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    pod = subparsers.add_parser("pod", parents=[common], help="interactive GPU pods: SSH and JupyterLab",
                                description="Dev pods: one GPU node with your SSH key and, optionally, JupyterLab; "
                                            "stopped when nobody uses it for --idle-timeout minutes.")
    actions = pod.add_subparsers(dest="pod_command", metavar="ACTION", required=True)

    create = actions.add_parser("create", parents=[common], help="open a pod",
                                description="Create a pod (POST /api/v1/pods). With --wait, poll until it runs and "
                                            "print how to connect (and the Jupyter token, shown only this once).")
    create.add_argument("name", metavar="NAME", help="pod name (a slug)")
    create.add_argument("--ssh-public-key", type=Path, default=DEFAULT_KEY, metavar="FILE",
                        help=f"public key for the login user (default {DEFAULT_KEY})")
    create.add_argument("--jupyter", action="store_true", help="start JupyterLab on the node")
    create.add_argument("--image", metavar="IMAGE@sha256:…", help="JupyterLab image, pinned by digest")
    create.add_argument("--idle-timeout", type=int, default=60, metavar="MINUTES",
                        help="stop after this many idle minutes (default 60; 0 = never)")
    create.add_argument("--max-hours", type=positive_float, default=24, metavar="H", help="lease limit (default 24)")
    add_shape_options(create)
    add_policy_options(create)
    add_idempotency_option(create)
    add_wait_options(create, until="the pod runs", default_timeout="20m")
    create.set_defaults(handler=create_command)

    listing = actions.add_parser("list", parents=[common], help="list this workspace's pods",
                                 description="List pods, newest first.")
    listing.add_argument("--all", action="store_true", help="include terminated and failed pods")
    listing.set_defaults(handler=list_command)

    ssh = actions.add_parser("ssh", parents=[common], help="SSH into a running pod",
                             description="Run `ssh -p PORT user@host` for the running pod NAME; arguments after "
                                         "`--` go to ssh.")
    ssh.add_argument("name", metavar="NAME")
    ssh.add_argument("ssh_args", nargs=argparse.REMAINDER, help="passed to ssh (after --)")
    ssh.set_defaults(handler=ssh_command)

    for verb, text in (("stop", "stop a pod now (metering stops; where the partner cannot stop a node it is "
                                "terminated)"),
                       ("start", "start a stopped pod on the node it kept (partners that can stop nodes)"),
                       ("terminate", "terminate a pod")):
        action = actions.add_parser(verb, parents=[common], help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("name", metavar="NAME")
        action.set_defaults(handler=lambda ctx, verb=verb: verb_command(ctx, verb))


def pod_body(args: argparse.Namespace) -> dict[str, Any]:
    if args.idle_timeout < 0:
        raise UsageError("--idle-timeout must be 0 (never) or more minutes")
    body = {**placement_request(args), "name": args.name, "jupyter": args.jupyter,
            "ssh_public_key": read_public_key(args.ssh_public_key.expanduser()),
            "idle_timeout_minutes": args.idle_timeout, "max_hours": args.max_hours}
    if args.image:
        body["image"] = args.image
    return body


def create_command(ctx: Context) -> int:
    key = idempotency_key(ctx.args)
    pod = ctx.client().post(PODS, pod_body(ctx.args), idempotency_key=key)
    token = pod.get("jupyter_token")
    subject = f"pod {pod.get('name', ctx.args.name)}"
    ctx.progress.note(f"{subject}: {pod.get('state')} (idempotency key {key})")
    if ctx.args.wait:
        result = wait_resource(ctx, pod, path=f"{PODS}/{pod.get('id')}", subject=subject,
                               stop_states={"running", "stopping", "terminating", *ENDED})
        pod = {**result.resource, "jupyter_token": token}
        if result.timed_out:
            raise WaitTimeout(timeout_message(subject, pod.get("state"), result.waited,
                                              f"remove it with: brokerctl pod terminate {ctx.args.name}"),
                              resource=pod)
        if pod.get("state") in ("stopping", "terminating", "terminated"):
            raise ResourceFailed(f"{subject} ended before it ran", resource=pod)
    if pod.get("state") == "failed":
        raise failure_error(pod, subject)
    show_pod(ctx, pod)
    return 0


def show_pod(ctx: Context, pod: dict) -> None:
    if ctx.json:
        emit_json(pod)
        return
    lines = [f"pod {pod.get('name')} (id {pod.get('id')}): {pod.get('state')}"]
    if pod.get("ssh"):
        lines.append(f"  ssh:      {pod['ssh']}")
    if pod.get("jupyter_url"):
        lines.append(f"  jupyter:  {pod['jupyter_url']}")
    if pod.get("jupyter_token"):
        lines.append(f"  token:    {pod['jupyter_token']}  (shown only now: keep it)")
    emit("\n".join(lines))


POD_COLUMNS = [
    ("ID", lambda p: p.get("id")),
    ("NAME", lambda p: p.get("name")),
    ("STATE", lambda p: p.get("state")),
    ("SSH", lambda p: p.get("ssh") or "-"),
    ("IDLE STOP", lambda p: (p.get("activity") or {}).get("idle_stop_at") or "-"),
    ("COST", lambda p: money((p.get("cost") or {}).get("so_far"))),
]


def list_command(ctx: Context) -> int:
    return list_live(ctx, PODS, POD_COLUMNS, "pod")


def find_live_pod(ctx: Context, name: str) -> dict:
    return find_live(ctx, PODS, name, "pod")


def ssh_argv(pod: dict, extra: list[str]) -> list[str]:
    if not pod.get("ssh"):
        raise UsageError(f"pod {pod.get('name')} is {pod.get('state')}: it has no SSH address until it runs")
    extra = extra[1:] if extra[:1] == ["--"] else extra
    return [*shlex.split(pod["ssh"]), *extra]


def ssh_command(ctx: Context) -> int:
    argv = ssh_argv(find_live_pod(ctx, ctx.args.name), ctx.args.ssh_args)
    program = shutil.which(argv[0])
    if program is None:
        raise UsageError("ssh is not installed (install OpenSSH's client)")
    os.execv(program, argv)
    return 0  # not reached: exec replaces this process


def verb_command(ctx: Context, verb: str) -> int:
    pod = find_live_pod(ctx, ctx.args.name)
    show_pod(ctx, ctx.client().post(f"{PODS}/{pod['id']}/{verb}", {}))
    return 0
