"""The catalog of model shapes and the per-GPU KV cache formula."""

from __future__ import annotations

import dataclasses

import pytest

from infra.model_catalog import KNOWN_MODELS, ModelShape, kv_cache_bytes_per_token, lookup


def test_llama_3_1_8b_instruct_has_the_shape_of_its_config() -> None:
    shape = KNOWN_MODELS["meta-llama/Llama-3.1-8B-Instruct"]
    assert (shape.layers, shape.kv_heads, shape.head_dim, shape.context_length) == (32, 8, 128, 131072)
    assert shape.parameters_billions == 8.03
    assert shape.source == "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/blob/main/config.json"
    # 2 x 32 layers x 8 KV heads x 128 x 2 bytes
    assert kv_cache_bytes_per_token(shape, shards=1) == 131072


@pytest.mark.parametrize(
    ("model_id", "context", "layers", "kv_heads", "head_dim"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", 32768, 28, 4, 128),  # Instruct ships 32768, YaRN is opt-in
        ("Qwen/Qwen3-32B", 40960, 64, 8, 128),  # explicit head_dim, not 5120 / 64
        ("google/gemma-2-9b-it", 8192, 42, 8, 256),
        ("google/gemma-2-27b-it", 8192, 46, 16, 128),  # not 4608 / 32 = 144
        ("microsoft/Phi-3.5-mini-instruct", 131072, 32, 32, 96),
        ("meta-llama/Llama-3.2-1B-Instruct", 131072, 16, 8, 64),
    ],
)
def test_special_shapes(model_id: str, context: int, layers: int, kv_heads: int, head_dim: int) -> None:
    shape = KNOWN_MODELS[model_id]
    assert (shape.context_length, shape.layers, shape.kv_heads, shape.head_dim) == (context, layers, kv_heads, head_dim)


def test_mixtral_counts_every_expert() -> None:
    assert KNOWN_MODELS["mistralai/Mixtral-8x7B-Instruct-v0.1"].parameters_billions == 46.7


def test_lookup_is_exact_then_case_insensitive() -> None:
    shape = KNOWN_MODELS["Qwen/Qwen2.5-72B-Instruct"]
    assert lookup("Qwen/Qwen2.5-72B-Instruct") is shape
    assert lookup("qwen/qwen2.5-72b-instruct") is shape
    assert lookup("QWEN/QWEN2.5-72B-INSTRUCT") is shape


@pytest.mark.parametrize(
    "model_id", ["acme/unknown-model", "meta-llama/Llama-3.1-8B", "", "Qwen/Qwen2.5-7B-Instruct-AWQ"]
)
def test_unknown_models_are_none(model_id: str) -> None:
    assert lookup(model_id) is None


def test_catalog_covers_the_widely_deployed_models() -> None:
    assert len(KNOWN_MODELS) >= 20
    # ids are unique whatever their case, so the case-insensitive lookup is unambiguous
    assert len({k.lower() for k in KNOWN_MODELS}) == len(KNOWN_MODELS)


def test_catalog_is_read_only() -> None:
    with pytest.raises(TypeError):
        KNOWN_MODELS["acme/x"] = KNOWN_MODELS["Qwen/Qwen3-8B"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        KNOWN_MODELS["Qwen/Qwen3-8B"].layers = 1  # type: ignore[misc]


@pytest.mark.parametrize("model_id", sorted(KNOWN_MODELS))
def test_every_entry_is_sane(model_id: str) -> None:
    shape = KNOWN_MODELS[model_id]
    assert 0.1 < shape.parameters_billions < 1000
    assert shape.context_length >= 2048
    assert shape.layers > 0
    assert shape.kv_heads > 0
    assert shape.head_dim > 0 and shape.head_dim % 32 == 0
    # Weights dwarf the KV cache of one token; a swapped field would break this.
    assert kv_cache_bytes_per_token(shape, shards=1) < shape.parameters_billions * 1e9 / 1000


@pytest.mark.parametrize(
    ("kv_heads", "shards", "per_shard"),
    [
        (8, 1, 8),
        (8, 2, 4),
        (8, 8, 1),
        (4, 8, 1),  # fewer KV heads than GPUs: each GPU keeps a whole, replicated head
        (2, 4, 1),
        (8, 3, 3),  # not a layout vLLM accepts; the ceiling is the safe bound
        (32, 4, 8),
    ],
)
def test_kv_heads_are_split_then_replicated(kv_heads: int, shards: int, per_shard: int) -> None:
    shape = ModelShape(1.0, 4096, layers=10, kv_heads=kv_heads, head_dim=128, source="https://huggingface.co/a/b/")
    assert kv_cache_bytes_per_token(shape, shards) == 2 * 10 * per_shard * 128 * 2


def test_kv_per_token_on_real_layouts() -> None:
    qwen_7b = KNOWN_MODELS["Qwen/Qwen2.5-7B-Instruct"]  # 4 KV heads
    assert kv_cache_bytes_per_token(qwen_7b, shards=1) == 2 * 28 * 4 * 128 * 2 == 57344
    assert kv_cache_bytes_per_token(qwen_7b, shards=4) == 2 * 28 * 1 * 128 * 2
    assert kv_cache_bytes_per_token(qwen_7b, shards=8) == 2 * 28 * 1 * 128 * 2  # replicated
    llama_70b = KNOWN_MODELS["meta-llama/Llama-3.3-70B-Instruct"]
    assert kv_cache_bytes_per_token(llama_70b, shards=4) == 2 * 80 * 2 * 128 * 2 == 81920
    assert kv_cache_bytes_per_token(llama_70b, shards=4, dtype_bytes=1) == 40960  # fp8 cache


@pytest.mark.parametrize(("shards", "dtype_bytes"), [(0, 2), (-1, 2), (1, 0)])
def test_kv_rejects_nonsense(shards: int, dtype_bytes: int) -> None:
    with pytest.raises(ValueError):
        kv_cache_bytes_per_token(KNOWN_MODELS["Qwen/Qwen3-8B"], shards, dtype_bytes)
