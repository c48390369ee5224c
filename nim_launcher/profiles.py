"""NIM model catalogue: images, engine profiles and the GPUs each profile fits on.

A profile is named `<engine>-<precision>-tp<N>`; `gpu_memory_gb` is what each of its N GPUs needs
(weights split N ways plus KV-cache headroom). Profiles are listed in order of preference, so when two
profiles fit the same GPU shape the first one is the one launched.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marketplace.catalog.gpus import CANONICAL_GPUS
from marketplace.errors import InvalidInput

CHAT = "chat"
EMBEDDING = "embedding"

TINY_CHAT_MODEL = "gpu-broker/tiny-cpu-chat"
TINY_EMBED_MODEL = "gpu-broker/tiny-cpu-embed"

_HOPPER_UP = ("H100", "H200", "GH200", "B200", "GB200", "B300")
_FP8_CAPABLE = _HOPPER_UP + ("L40S", "L40", "L4", "RTX6000-Ada")
_BF16_CAPABLE = _HOPPER_UP + ("A100-80GB", "A100", "L40S", "L40", "A40", "A6000", "RTX6000-Ada", "A10G", "L4")


class UnknownModel(InvalidInput, LookupError):
    """No such model, or no profile of it fits the GPU asked for (a 400 on `gpu`)."""

    field = "gpu"


@dataclass(frozen=True)
class Profile:
    engine: str
    precision: str
    tp: int
    gpu_memory_gb: int
    gpus: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.precision}-tp{self.tp}"

    def fits(self, gpu: str) -> bool:
        spec = CANONICAL_GPUS.get(gpu)
        return gpu in self.gpus and spec is not None and spec.memory_gb >= self.gpu_memory_gb


@dataclass(frozen=True)
class ModelSpec:
    id: str
    kind: str
    tag: str
    profiles: tuple[Profile, ...]
    description: str = ""
    cpu_only: bool = False

    @property
    def image(self) -> str:
        if self.cpu_only:
            return ""
        return f"nvcr.io/nim/{self.id}:{self.tag}"

    def profile(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        raise UnknownModel(f"model {self.id!r} has no profile {name!r}")


def _p(engine: str, precision: str, tp: int, memory: int, gpus: tuple[str, ...]) -> Profile:
    return Profile(engine, precision, tp, memory, tuple(g for g in gpus if g in CANONICAL_GPUS))


MODELS: dict[str, ModelSpec] = {spec.id: spec for spec in [
    ModelSpec("meta/llama-3.1-8b-instruct", CHAT, "1.8.4", (
        _p("tensorrt_llm", "fp8", 1, 20, _FP8_CAPABLE),
        _p("tensorrt_llm", "bf16", 1, 24, _BF16_CAPABLE),
        _p("vllm", "bf16", 1, 24, _BF16_CAPABLE),
    ), "Llama 3.1 8B Instruct"),
    ModelSpec("meta/llama-3.1-70b-instruct", CHAT, "1.8.4", (
        _p("tensorrt_llm", "fp8", 1, 96, ("H200", "B200", "GB200", "B300")),
        _p("tensorrt_llm", "fp8", 2, 48, _FP8_CAPABLE),
        _p("tensorrt_llm", "bf16", 2, 96, ("H200", "B200", "GB200", "B300")),
        _p("tensorrt_llm", "bf16", 4, 48, _BF16_CAPABLE),
        _p("vllm", "bf16", 4, 48, _BF16_CAPABLE),
    ), "Llama 3.1 70B Instruct"),
    ModelSpec("meta/llama-3.3-70b-instruct", CHAT, "1.8.4", (
        _p("tensorrt_llm", "fp8", 1, 96, ("H200", "B200", "GB200", "B300")),
        _p("tensorrt_llm", "fp8", 2, 48, _FP8_CAPABLE),
        _p("tensorrt_llm", "bf16", 2, 96, ("H200", "B200", "GB200", "B300")),
        _p("vllm", "bf16", 4, 48, _BF16_CAPABLE),
    ), "Llama 3.3 70B Instruct"),
    ModelSpec("mistralai/mixtral-8x7b-instruct-v01", CHAT, "1.2.1", (
        _p("tensorrt_llm", "fp8", 1, 64, ("H100", "H200", "GH200", "B200", "GB200", "B300")),
        _p("tensorrt_llm", "fp8", 2, 40, _FP8_CAPABLE),
        _p("tensorrt_llm", "bf16", 2, 64, _HOPPER_UP + ("A100-80GB",)),
        _p("vllm", "bf16", 2, 64, _HOPPER_UP + ("A100-80GB",)),
        _p("vllm", "bf16", 4, 32, _BF16_CAPABLE),
    ), "Mixtral 8x7B Instruct v0.1"),
    ModelSpec("nvidia/nv-embedqa-e5-v5", EMBEDDING, "1.6.0", (
        _p("tensorrt", "fp16", 1, 4, _BF16_CAPABLE + ("A10", "T4")),
        _p("onnx", "fp16", 1, 4, _BF16_CAPABLE + ("A10", "A30", "A16")),
    ), "NV-EmbedQA E5 v5 (1024-dim retrieval embeddings)"),
    ModelSpec(TINY_CHAT_MODEL, CHAT, "builtin", (_p("cpu", "fp32", 1, 0, ()),),
              "built-in bigram word model on CPU (for tests, demos and GPU-less nodes)", cpu_only=True),
    ModelSpec(TINY_EMBED_MODEL, EMBEDDING, "builtin", (_p("cpu", "fp32", 1, 0, ()),),
              "built-in hashed bag-of-words embeddings on CPU", cpu_only=True),
]}


def get_model(model_id: str) -> ModelSpec:
    try:
        return MODELS[model_id]
    except KeyError:
        raise UnknownModel(f"unknown NIM model {model_id!r}") from None


def feasible_pairs(model_id: str, *, gpu: str | None = None) -> list[tuple[Profile, str]]:
    """Every (profile, GPU) pair that fits, one per (GPU, tp) shape, preferred profile first."""
    spec = get_model(model_id)
    pairs: dict[tuple[str, int], tuple[Profile, str]] = {}
    for profile in spec.profiles:
        for candidate in profile.gpus:
            if (gpu is None or candidate == gpu) and profile.fits(candidate):
                pairs.setdefault((candidate, profile.tp), (profile, candidate))
    return list(pairs.values())


def placement_candidates(model_id: str, *, policy: Mapping[str, Any] | None, gpu: str | None = None,
                         request: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Placement requests (DESIGN §2 shape) for each feasible (profile, GPU) pair of a model.

    `policy` is the user's policy object; `request` carries other request fields to keep (spot, price
    cap, interconnect, near). A CPU-only model yields one request for any GPU node. Recover the profile
    for a matched request with `profile_for_request`.
    """
    spec = get_model(model_id)
    base = {key: value for key, value in (request or {}).items()
            if key not in ("gpu", "gpus_per_node", "nodes", "min_gpu_memory_gb", "architecture", "policy")}
    shapes = [(None, 1)] if spec.cpu_only else [(g, p.tp) for p, g in feasible_pairs(model_id, gpu=gpu)]
    if spec.cpu_only and gpu is not None:
        shapes = [(gpu, 1)]
    return [{"gpu": g, "min_gpu_memory_gb": None, "gpus_per_node": tp, "nodes": 1, "spot": False,
             "max_price_per_gpu_hour": None, **base, "policy": dict(policy or {})} for g, tp in shapes]


def profile_for_request(model_id: str, request: Mapping[str, Any]) -> Profile:
    """The profile to launch for a placement request produced by `placement_candidates`."""
    spec = get_model(model_id)
    if spec.cpu_only:
        return spec.profiles[0]
    for profile, _gpu in feasible_pairs(model_id, gpu=request.get("gpu")):
        if profile.tp == request.get("gpus_per_node"):
            return profile
    raise UnknownModel(f"no profile of {model_id!r} fits {request.get('gpus_per_node')}x {request.get('gpu')}")
