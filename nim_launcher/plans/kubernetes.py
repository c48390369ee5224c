"""Kubernetes Deployment + Service for a NIM: GPUs as resources, probes on the NIM health routes."""

import yaml

from nim_launcher.profiles import ModelSpec, Profile

from .context import NIM_CACHE_IN_CONTAINER, NIM_PORT, NodeContext


def _labels(name: str, ctx: NodeContext) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "gpu-broker",
            "gpu-broker/node-id": str(ctx.node_id)}


def _probe(path: str, *, period: int, failures: int) -> dict:
    return {"httpGet": {"path": path, "port": NIM_PORT}, "periodSeconds": period, "failureThreshold": failures}


def _container(model: ModelSpec, profile: Profile, ctx: NodeContext) -> dict:
    ngc_env = {"name": "NGC_API_KEY",
               "valueFrom": {"secretKeyRef": {"name": ctx.ngc_key_ref.name, "key": ctx.ngc_key_ref.key}}}
    return {
        "name": "nim",
        "image": model.image,
        "env": [ngc_env, {"name": "NIM_MODEL_PROFILE", "value": profile.name}],
        "ports": [{"name": "http", "containerPort": NIM_PORT}],
        "resources": {"limits": {"nvidia.com/gpu": profile.tp}, "requests": {"nvidia.com/gpu": profile.tp}},
        # Model download and engine build take minutes: the startup probe covers them, so liveness
        # never kills a container that is still loading.
        "startupProbe": _probe("/v1/health/ready", period=10, failures=180),
        "readinessProbe": _probe("/v1/health/ready", period=5, failures=3),
        "livenessProbe": _probe("/v1/health/live", period=10, failures=3),
        "volumeMounts": [{"name": "nim-cache", "mountPath": NIM_CACHE_IN_CONTAINER},
                         {"name": "dshm", "mountPath": "/dev/shm"}],
    }


def render_kubernetes(model: ModelSpec, profile: Profile, ctx: NodeContext, *, name: str,
                      namespace: str = "default", replicas: int = 1) -> str:
    """Multi-document YAML: a Deployment and a ClusterIP Service on port 8000."""
    labels = _labels(name, ctx)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "imagePullSecrets": [{"name": ctx.image_pull_secret}],
                    "containers": [_container(model, profile, ctx)],
                    "volumes": [{"name": "nim-cache", "emptyDir": {}},
                                {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"selector": {"app.kubernetes.io/name": name},
                 "ports": [{"name": "http", "port": NIM_PORT, "targetPort": NIM_PORT}]},
    }
    return yaml.safe_dump_all([deployment, service], sort_keys=False)
