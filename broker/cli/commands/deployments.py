"""`deploy`, `deployments` and `undeploy`."""

import argparse
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
from broker.cli.context import Context
from broker.cli.errors import ApiError, ResourceFailed, UsageError, WaitTimeout
from broker.cli.output import emit, emit_json
from broker.cli.placement import add_policy_options, policy_from_args, positive_float, positive_int

DEPLOYMENTS = "/api/v1/deployments"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    deploy = subparsers.add_parser(
        "deploy", parents=[common], help="deploy a NIM model as an OpenAI-compatible endpoint",
        description="Create a deployment (POST /api/v1/deployments) of MODEL on rented nodes that obey the policy. "
                    "Sends an Idempotency-Key. With --wait, poll until it is ready (exit 0), failed (exit 5, or 3 "
                    "when out of capacity) or --timeout passes (exit 4; the deployment keeps running).")
    deploy.add_argument("model", metavar="MODEL", help="NIM model profile id, e.g. meta/llama-3.1-8b-instruct")
    deploy.add_argument("--name", required=True, help="deployment name (a slug); clients pass it as `model`")
    deploy.add_argument("--min", dest="replicas_min", type=positive_int, default=1, metavar="N",
                        help="minimum replicas (default 1)")
    deploy.add_argument("--max", dest="replicas_max", type=positive_int, metavar="N",
                        help="maximum replicas (default: --min)")
    deploy.add_argument("--gpu", help="GPU model for the replicas, e.g. H100 (default: the broker's choice)")
    deploy.add_argument("--max-price", type=positive_float, metavar="USD", help="price cap per GPU-hour in USD")
    deploy.add_argument("--spot", action="store_true", help="run replicas on spot capacity")
    deploy.add_argument("--spot-fallback", action="store_true",
                        help="with --spot: replace a preempted replica on demand when no spot node is left")
    deploy.add_argument("--max-hours", type=positive_float, metavar="H",
                        help="lease limit of each replica's rental in hours (default: the broker's, 24)")
    add_policy_options(deploy)
    add_idempotency_option(deploy)
    add_wait_options(deploy, until="the deployment is ready", default_timeout="45m")
    deploy.set_defaults(handler=deploy_command)

    deployments = subparsers.add_parser("deployments", parents=[common], help="list this workspace's deployments",
                                        description="List deployments, newest first.")
    deployments.add_argument("--all", action="store_true", help="include terminated and failed deployments")
    deployments.set_defaults(handler=deployments_command)

    undeploy = subparsers.add_parser("undeploy", parents=[common], help="tear a deployment down by name",
                                     description="Find the live deployment called NAME and delete it.")
    undeploy.add_argument("name", metavar="NAME", help="deployment name")
    add_wait_options(undeploy, until="the deployment is terminated", default_timeout="10m")
    undeploy.set_defaults(handler=undeploy_command)


def deployment_body(args: argparse.Namespace) -> dict[str, Any]:
    replicas_max = args.replicas_max if args.replicas_max is not None else args.replicas_min
    if replicas_max < args.replicas_min:
        raise UsageError(f"--max ({replicas_max}) must be at least --min ({args.replicas_min})")
    body: dict[str, Any] = {
        "name": args.name, "model": args.model,
        "replicas": {"min": args.replicas_min, "max": replicas_max},
        "policy": policy_from_args(args),
    }
    if args.gpu:
        body["gpu"] = args.gpu
    if args.max_price is not None:
        body["max_price_per_gpu_hour"] = args.max_price
    if args.spot:
        body["spot"] = True
    if args.spot_fallback:
        body["spot_fallback"] = True
    if args.max_hours is not None:
        body["max_hours"] = args.max_hours
    return body


def deploy_command(ctx: Context) -> int:
    key = idempotency_key(ctx.args)
    deployment = ctx.client().post(DEPLOYMENTS, deployment_body(ctx.args), idempotency_key=key)
    subject = f"deployment {deployment.get('name', ctx.args.name)}"
    ctx.progress.note(f"{subject}: {deployment.get('state')} (idempotency key {key})")
    if ctx.args.wait:
        result = wait_resource(ctx, deployment, path=f"{DEPLOYMENTS}/{deployment.get('id')}", subject=subject,
                               stop_states={"ready", *ENDED, "terminating"})
        deployment = result.resource
        if result.timed_out:
            raise WaitTimeout(timeout_message(subject, deployment.get("state"), result.waited,
                                              f"remove it with: brokerctl undeploy {ctx.args.name}"),
                              details={"state": deployment.get("state"),
                                       "undeploy": f"brokerctl undeploy {ctx.args.name}"},
                              resource=deployment)
        if deployment.get("state") in ("terminating", "terminated"):
            raise ResourceFailed(f"{subject} was terminated before it was ready", resource=deployment)
    if deployment.get("state") == "failed":
        raise failure_error(deployment, subject)
    show_deployment(ctx, deployment)
    return 0


def endpoint_of(deployment: dict) -> str:
    return str(deployment.get("endpoint_url") or deployment.get("endpoint") or "")


def show_deployment(ctx: Context, deployment: dict) -> None:
    if ctx.json:
        emit_json(deployment)
        return
    lines = [f"deployment {deployment.get('name')} (id {deployment.get('id')}): {deployment.get('state')}",
             f"  model:    {deployment.get('model')}"]
    if endpoint_of(deployment):
        lines.append(f"  endpoint: {endpoint_of(deployment)}  (OpenAI-compatible; model={deployment.get('name')})")
    if deployment.get("failure_reason"):
        lines.append(f"  reason:   {deployment['failure_reason']}")
    emit("\n".join(lines))


DEPLOYMENT_COLUMNS = [
    ("ID", lambda d: d.get("id")),
    ("NAME", lambda d: d.get("name")),
    ("MODEL", lambda d: d.get("model")),
    ("STATE", lambda d: d.get("state")),
    ("REPLICAS", lambda d: _replicas(d)),
    ("ENDPOINT", endpoint_of),
]


def _replicas(deployment: dict) -> str:
    replicas = deployment.get("replicas")
    if isinstance(replicas, dict):
        return f"{replicas.get('min')}-{replicas.get('max')}"
    if isinstance(replicas, list):
        return str(len(replicas))
    return "-"


def deployments_command(ctx: Context) -> int:
    return list_live(ctx, DEPLOYMENTS, DEPLOYMENT_COLUMNS, "deployment")


def find_live_deployment(ctx: Context, name: str) -> dict:
    return find_live(ctx, DEPLOYMENTS, name, "deployment")


def _get_or_gone(ctx: Context, path: str, last: dict) -> dict:
    """A deleted deployment may vanish from the API; that is the end we were waiting for."""
    try:
        return ctx.client().get(path)
    except ApiError as exc:
        if exc.details.get("status") == 404:
            return {**last, "state": "terminated"}
        raise


def undeploy_command(ctx: Context) -> int:
    deployment = find_live_deployment(ctx, ctx.args.name)
    path = f"{DEPLOYMENTS}/{deployment['id']}"
    deployment = ctx.client().delete(path) or {**deployment, "state": "terminating"}
    if ctx.args.wait:
        result = wait_resource(ctx, deployment, path=path, subject=f"deployment {ctx.args.name}",
                               stop_states=set(ENDED), fetch=lambda: _get_or_gone(ctx, path, deployment))
        deployment = result.resource
        if result.timed_out:
            raise WaitTimeout(f"timed out: deployment {ctx.args.name} is still {deployment.get('state')}",
                              resource=deployment)
    show_deployment(ctx, deployment)
    return 0
