"""NIM model catalogue and the placement requests derived from it."""

import re

import pytest

from marketplace.catalog.gpus import CANONICAL_GPUS
from nim_launcher.profiles import (
    MODELS,
    TINY_CHAT_MODEL,
    UnknownModel,
    get_model,
    placement_candidates,
    profile_for_request,
)

REQUIRED = ["meta/llama-3.1-8b-instruct", "meta/llama-3.1-70b-instruct", "meta/llama-3.3-70b-instruct",
            "mistralai/mixtral-8x7b-instruct-v01", "nvidia/nv-embedqa-e5-v5"]
POLICY = {"jurisdictions": ["EU"], "countries": [], "partners": {"allow": [], "deny": ["acme"]}}


@pytest.mark.parametrize("model_id", REQUIRED)
def test_catalogue_models_have_nim_images_and_well_named_profiles(model_id):
    spec = get_model(model_id)
    assert spec.image.startswith(f"nvcr.io/nim/{model_id}:")
    for profile in spec.profiles:
        assert re.fullmatch(r"[a-z_]+-(fp8|fp16|bf16)-tp\d", profile.name)
        assert profile.gpus and set(profile.gpus) <= set(CANONICAL_GPUS)


def test_embedding_model_is_kind_embedding_and_llama_is_chat():
    assert get_model("nvidia/nv-embedqa-e5-v5").kind == "embedding"
    assert get_model("meta/llama-3.1-8b-instruct").kind == "chat"


def test_70b_at_fp8_needs_two_h100s_or_one_h200():
    shapes = {(r["gpu"], r["gpus_per_node"]) for r in placement_candidates("meta/llama-3.1-70b-instruct",
                                                                           policy=POLICY)}
    assert ("H100", 2) in shapes and ("H200", 1) in shapes
    assert ("H100", 1) not in shapes


def test_candidates_keep_the_users_policy_and_request_fields():
    requests = placement_candidates("meta/llama-3.1-8b-instruct", policy=POLICY, gpu="L40S",
                                    request={"spot": True, "max_price_per_gpu_hour": 2.5, "gpu": "H100"})
    assert requests == [{"gpu": "L40S", "min_gpu_memory_gb": None, "gpus_per_node": 1, "nodes": 1, "spot": True,
                         "max_price_per_gpu_hour": 2.5, "policy": POLICY}]


def test_no_candidate_on_a_gpu_too_small_for_every_profile():
    assert placement_candidates("meta/llama-3.1-70b-instruct", policy={}, gpu="L4") == []


def test_every_candidate_fits_the_gpu_memory_it_asks_for():
    for model_id in REQUIRED:
        for request in placement_candidates(model_id, policy={}):
            profile = profile_for_request(model_id, request)
            assert CANONICAL_GPUS[request["gpu"]].memory_gb >= profile.gpu_memory_gb
            assert profile.tp == request["gpus_per_node"]


def test_profile_for_request_prefers_the_first_listed_profile():
    profile = profile_for_request("meta/llama-3.1-8b-instruct", {"gpu": "H100", "gpus_per_node": 1})
    assert profile.name == "tensorrt_llm-fp8-tp1"
    assert profile_for_request("meta/llama-3.1-8b-instruct", {"gpu": "A100-80GB", "gpus_per_node": 1}).name \
        == "tensorrt_llm-bf16-tp1"


def test_cpu_model_runs_on_any_single_gpu_node():
    assert [(r["gpu"], r["gpus_per_node"]) for r in placement_candidates(TINY_CHAT_MODEL, policy={})] == [(None, 1)]
    assert get_model(TINY_CHAT_MODEL).cpu_only and get_model(TINY_CHAT_MODEL).image == ""


def test_unknown_model_raises():
    with pytest.raises(UnknownModel):
        placement_candidates("acme/nope", policy={})
    assert "meta/llama-3.3-70b-instruct" in MODELS
