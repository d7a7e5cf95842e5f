"""Shapes of well-known Hugging Face models, for checking offline that a model fits a GPU.

The config rules need, at plan time and without the Hub: the size of the weights, the KV
cache one token takes, and the longest sequence the engine will accept (vLLM refuses to
start when max_model_len exceeds the model's max_position_embeddings, and a refused start
boot-loops an instance on a paid GPU).

Where the numbers come from (checked 2026):
- context_length, layers, kv_heads, head_dim: the model's own config.json
  (`max_position_embeddings` as shipped, `num_hidden_layers`, `num_key_value_heads`,
  `head_dim` or else hidden_size // num_attention_heads). `source` is that file's URL.
  The Hub could not be reached, so each file was read through copies quoted in public
  repositories: verbatim config.json dumps (AutoConfig printouts, test fixtures, model-config
  folders such as ai-dynamo/aiconfigurator's), and Lightning-AI/litgpt's litgpt/config.py,
  which transcribes each model's config.json and names its URL. Every entry agrees with at
  least two of them, or with one and the model card.
- parameters_billions: the safetensors total the Hub shows, to three significant digits.
  Each was recomputed from the config shapes (vocabulary, hidden, intermediate, heads, tied
  or untied embeddings) and agrees with the model card, or with keras-team/keras-hub's
  preset totals; where a card rounds differently the entry says so, and the larger figure
  is kept because it errs towards "does not fit".

A model missing here is not an error: the caller then relies on the user's own numbers.
Add a model only with values read from its config.json, and give the URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from model_server.weights import layout


@dataclass(frozen=True)
class ModelShape:
    parameters_billions: float
    """Total parameters in billions (model card / safetensors metadata), e.g. 8.03."""
    context_length: int
    """config.json max_position_embeddings as shipped, no rope scaling applied."""
    layers: int
    """num_hidden_layers."""
    kv_heads: int
    """num_key_value_heads (num_attention_heads when the config has none)."""
    head_dim: int
    """config.json head_dim, else hidden_size // num_attention_heads."""
    source: str
    """URL of the config.json the values were taken from."""


def _config_url(model_id: str) -> str:
    return f"{layout.HUB_URL}/{model_id}/blob/main/config.json"


def _shape(
    model_id: str, *, params_b: float, context: int, layers: int, kv_heads: int, head_dim: int
) -> tuple[str, ModelShape]:
    return model_id, ModelShape(params_b, context, layers, kv_heads, head_dim, _config_url(model_id))


_MODELS: dict[str, ModelShape] = dict(
    [
        # --- Meta Llama 3.1 / 3.2 / 3.3 -------------------------------------------------------
        # 131072 is the shipped max_position_embeddings; rope_scaling (rope_type "llama3",
        # factor 8 or 32) is already part of it: vLLM multiplies by the factor only for other
        # rope types (yarn, dynamic, linear), never for "llama3" or Phi's "longrope".
        _shape("meta-llama/Llama-3.1-8B-Instruct", params_b=8.03, context=131072, layers=32, kv_heads=8, head_dim=128),
        _shape("meta-llama/Llama-3.1-70B-Instruct", params_b=70.6, context=131072, layers=80, kv_heads=8, head_dim=128),
        # Llama 3.2 configs carry head_dim explicitly (1B: 64, 3B: 128). Tied embeddings:
        # the card's 1.23B is 1,235,814,400 rounded down; the Hub shows 1.24B.
        _shape("meta-llama/Llama-3.2-1B-Instruct", params_b=1.24, context=131072, layers=16, kv_heads=8, head_dim=64),
        _shape("meta-llama/Llama-3.2-3B-Instruct", params_b=3.21, context=131072, layers=28, kv_heads=8, head_dim=128),
        _shape("meta-llama/Llama-3.3-70B-Instruct", params_b=70.6, context=131072, layers=80, kv_heads=8, head_dim=128),
        # --- Qwen2.5 Instruct ----------------------------------------------------------------
        # The Instruct config.json ships max_position_embeddings 32768 (the base models ship
        # 131072). The cards' "131,072 tokens" needs YaRN added to config.json by hand
        # (rope_scaling {"type": "yarn", "factor": 4.0, ...}); a catalog cannot know that, so
        # a longer maxTotalTokens needs the user's own config. head_dim = hidden / heads = 128.
        # The cards say 7.61B, 14.7B and 32.5B; the shapes give 7,615,616,512, 14,770,033,664
        # and 32,763,876,352 (the Hub's 7.62B, 14.8B, 32.8B), kept here.
        _shape("Qwen/Qwen2.5-1.5B-Instruct", params_b=1.54, context=32768, layers=28, kv_heads=2, head_dim=128),
        _shape("Qwen/Qwen2.5-3B-Instruct", params_b=3.09, context=32768, layers=36, kv_heads=2, head_dim=128),
        _shape("Qwen/Qwen2.5-7B-Instruct", params_b=7.62, context=32768, layers=28, kv_heads=4, head_dim=128),
        _shape("Qwen/Qwen2.5-14B-Instruct", params_b=14.8, context=32768, layers=48, kv_heads=8, head_dim=128),
        _shape("Qwen/Qwen2.5-32B-Instruct", params_b=32.8, context=32768, layers=64, kv_heads=8, head_dim=128),
        _shape("Qwen/Qwen2.5-72B-Instruct", params_b=72.7, context=32768, layers=80, kv_heads=8, head_dim=128),
        # --- Qwen3 (post-trained, thinking and non-thinking in one model) -------------------
        # config.json ships 40960: per the card, 32,768 tokens of output plus 8,192 of prompt;
        # 131,072 only with YaRN added by hand. head_dim is explicit and is NOT hidden / heads for 4B (2560/32)
        # and 32B (5120/64): 128 in all four. The cards round 4B and 8B to 4.0B and 8.2B.
        _shape("Qwen/Qwen3-4B", params_b=4.02, context=40960, layers=36, kv_heads=8, head_dim=128),
        _shape("Qwen/Qwen3-8B", params_b=8.19, context=40960, layers=36, kv_heads=8, head_dim=128),
        _shape("Qwen/Qwen3-14B", params_b=14.8, context=40960, layers=40, kv_heads=8, head_dim=128),
        _shape("Qwen/Qwen3-32B", params_b=32.8, context=40960, layers=64, kv_heads=8, head_dim=128),
        # --- Mistral ------------------------------------------------------------------------
        # v0.3: no sliding window (sliding_window null), vocabulary 32768.
        _shape("mistralai/Mistral-7B-Instruct-v0.3", params_b=7.25, context=32768, layers=32, kv_heads=8, head_dim=128),
        # Mixture of experts: 8 experts per layer, 2 active per token, but every expert's
        # weights sit in GPU memory, so the memory check must use the total 46.7B. Attention
        # is not split into experts, so the KV cache is that of Mistral 7B.
        _shape(
            "mistralai/Mixtral-8x7B-Instruct-v0.1", params_b=46.7, context=32768, layers=32, kv_heads=8, head_dim=128
        ),
        # --- Google Gemma 2 ------------------------------------------------------------------
        # Every other layer uses a 4096-token sliding window, the rest are global. The KV
        # figure counts every layer in full; an engine that keeps only the window for the
        # sliding layers (vLLM V1's hybrid KV cache manager) needs less, so it is an upper
        # bound. vLLM before the Gemma 2 full-context change (PR 10584, late 2024), and V0
        # with the XFORMERS or FLASHINFER backend, disable the window and cap max_model_len
        # at 4096. head_dim is explicit: 256 for 9B (hidden 3584 / 16 heads would give 224)
        # and 128 for 27B (4608 / 32 would give 144; its query_pre_attn_scalar is 144).
        _shape("google/gemma-2-9b-it", params_b=9.24, context=8192, layers=42, kv_heads=8, head_dim=256),
        _shape("google/gemma-2-27b-it", params_b=27.2, context=8192, layers=46, kv_heads=16, head_dim=128),
        # --- Microsoft Phi-3.5 ---------------------------------------------------------------
        # Full multi-head attention (32 KV heads = 32 query heads), head_dim 3072 / 32 = 96: a
        # large KV cache for its size. 131072 with LongRoPE (original_max_position_embeddings
        # 4096); the shipped max_position_embeddings is already 131072.
        _shape("microsoft/Phi-3.5-mini-instruct", params_b=3.82, context=131072, layers=32, kv_heads=32, head_dim=96),
    ]
)

KNOWN_MODELS: Mapping[str, ModelShape] = MappingProxyType(_MODELS)
"""Shapes keyed by Hugging Face repository id, spelled as on the Hub."""

_BY_LOWER: Mapping[str, ModelShape] = MappingProxyType({k.lower(): v for k, v in _MODELS.items()})


def lookup(model_id: str) -> ModelShape | None:
    """The shape of `model_id`, or None when the catalog does not know it.

    Exact id first, then case-insensitive (the Hub treats ids case-insensitively).
    """
    return KNOWN_MODELS.get(model_id) or _BY_LOWER.get(model_id.lower())


def kv_cache_bytes_per_token(shape: ModelShape, shards: int, dtype_bytes: int = 2) -> int:
    """KV cache bytes ONE GPU holds per token when the model is split over `shards` GPUs by
    tensor parallelism.

        2 (K and V) x layers x ceil(kv_heads / shards) x head_dim x dtype_bytes

    Tensor parallelism splits the KV heads across the GPUs; when there are fewer KV heads
    than GPUs each GPU still keeps one whole head (heads are replicated), hence the ceiling.
    This is vLLM's accounting: `ModelConfig.get_num_kv_heads` returns
    max(1, total_num_kv_heads // tensor_parallel_size) ("We will replicate the KV heads in
    the case where the number of KV heads is smaller than the tensor parallel size so each
    GPU has at least one KV head", vllm/config.py, now vllm/config/model.py), and the cache
    block size is num_attention_layers x block_size x (key + value entries of num_kv_heads x
    head_size) x dtype size (`CacheEngine.get_cache_block_size`,
    vllm/worker/cache_engine.py). vLLM only accepts shard counts that divide the KV heads or
    that they divide (`QKVParallelLinear`); for those the ceiling equals its floor, and for
    any other count it is the safe bound.

    dtype_bytes is 2 for an fp16/bf16 cache, 1 for an fp8 cache. Every layer is counted in
    full, including Gemma 2's sliding-window layers, so the figure is an upper bound there.
    """
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    if dtype_bytes < 1:
        raise ValueError(f"dtype_bytes must be at least 1, got {dtype_bytes}")
    kv_heads_per_shard = -(-shape.kv_heads // shards)
    return 2 * shape.layers * kv_heads_per_shard * shape.head_dim * dtype_bytes
