"""Engine facts: the container arguments each engine gets from a model's settings."""

from __future__ import annotations

import pytest

from model_server.engines import ENGINES, TGI, VLLM, EngineSettings, Quantization


def settings(**changes: object) -> EngineSettings:
    values: dict[str, object] = dict(
        model_id="meta-llama/Llama-3.1-8B-Instruct",
        revision="0e9e39f249a16976918f6564b8830bc894c89659",
        served_model_name="chat",
        max_input_tokens=4096,
        max_total_tokens=8192,
        quantization=Quantization.NONE,
        num_shards=4,
        max_concurrent_requests=32,
    )
    values.update(changes)
    return EngineSettings(**values)  # type: ignore[arg-type]


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_tgi_args_carry_limits_shards_and_port() -> None:
    args = TGI.container_args(settings())
    assert flag(args, "--model-id") == "meta-llama/Llama-3.1-8B-Instruct"
    assert flag(args, "--revision") == "0e9e39f249a16976918f6564b8830bc894c89659"
    assert flag(args, "--num-shard") == "4"
    assert flag(args, "--max-input-tokens") == "4096"
    assert flag(args, "--max-total-tokens") == "8192"
    assert flag(args, "--max-concurrent-requests") == "32"
    assert flag(args, "--port") == str(TGI.port)
    assert flag(args, "--usage-stats") == "off"
    assert "--quantize" not in args


def test_vllm_args_name_the_served_model_and_tensor_parallelism() -> None:
    args = VLLM.container_args(settings(quantization=Quantization.FP8))
    assert flag(args, "--served-model-name") == "chat"
    assert flag(args, "--tensor-parallel-size") == "4"
    assert flag(args, "--max-model-len") == "8192"
    assert flag(args, "--max-num-seqs") == "32"
    assert flag(args, "--quantization") == "fp8"


def test_quantization_spelling_is_per_engine() -> None:
    assert (
        flag(TGI.container_args(settings(quantization=Quantization.BITSANDBYTES_NF4)), "--quantize")
        == "bitsandbytes-nf4"
    )
    assert (
        flag(VLLM.container_args(settings(quantization=Quantization.BITSANDBYTES_NF4)), "--quantization")
        == "bitsandbytes"
    )


def test_unsupported_quantization_is_refused() -> None:
    with pytest.raises(ValueError, match="vllm does not support quantization 'bitsandbytes'"):
        VLLM.container_args(settings(quantization=Quantization.BITSANDBYTES))


@pytest.mark.parametrize("engine", list(ENGINES.values()), ids=list(ENGINES))
def test_every_engine_is_pinned_and_serves_openai_chat(engine) -> None:  # type: ignore[no-untyped-def]
    assert ":" in engine.image.rsplit("/", 1)[-1] and not engine.image.endswith(":latest")
    assert engine.chat_completions_path == "/v1/chat/completions"
    assert engine.readiness_path.startswith("/")
    assert engine.download_args(settings())[-1] == "0e9e39f249a16976918f6564b8830bc894c89659"
    assert "meta-llama/Llama-3.1-8B-Instruct" in engine.download_args(settings())


def test_staged_weights_are_loaded_from_their_directory_and_never_from_the_hub() -> None:
    for engine, flag_name in ((TGI, "--model-id"), (VLLM, "--model")):
        args = engine.container_args(settings(local_path="/data/meta-llama/Llama-3.1-8B-Instruct/0e9e39f2"))
        assert flag(args, flag_name) == "/data/meta-llama/Llama-3.1-8B-Instruct/0e9e39f2"
        assert "--revision" not in args
        assert "meta-llama/Llama-3.1-8B-Instruct" not in args


def test_vllm_starts_its_openai_server_whatever_the_images_entrypoint() -> None:
    # AWS's image starts SageMaker's serving script; the public one vLLM's server.
    assert VLLM.entrypoint == "python3"
    assert VLLM.container_args(settings())[:2] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert TGI.entrypoint == "text-generation-launcher"


def test_no_flag_a_current_vllm_refuses() -> None:
    # vLLM removed --disable-log-requests (request logging is off by default).
    assert "--disable-log-requests" not in VLLM.container_args(settings())


def test_bytes_per_parameter() -> None:
    assert [q.bytes_per_parameter for q in (Quantization.NONE, Quantization.FP8, Quantization.AWQ)] == [2, 1, 0.5]


def test_worker_keeps_an_admission_limited_engine_at_its_limit_and_feeds_a_queueing_one_more() -> None:
    assert TGI.worker_in_flight(64) == 64
    assert VLLM.worker_in_flight(64) == 80
    assert VLLM.worker_in_flight(3) == 4
