"""The SageMaker engine adapter against a fake endpoint speaking boto3's wire protocols:
how it streams and assembles, sorts errors, reads readiness and capacity. botocore runs
for real (no mocks): what is parsed is what SageMaker would send."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fake_sagemaker import (
    ENDPOINT,
    FakeSageMaker,
    Reply,
    invocation_timeout,
    model_error,
    service_error,
    stream_timeout,
    throttling,
)
from pydantic import ValidationError
from worker_harness import FAKE_CREDENTIALS, MODEL, REGION

from model_server.messages import ErrorKind
from model_server.sagemaker_runtime import MAX_BODY_BYTES, IncompleteStream, assemble
from model_server.worker.engine_client import PermanentEngineError, TransientEngineError
from model_server.worker.sagemaker import IAM_ACTIONS, SageMakerEngine
from model_server.worker.service import RELEASE_GRACE_SECONDS
from model_server.worker.settings import FARGATE_MAX_STOP_TIMEOUT_SECONDS, WorkerSettings

TGI_422 = "Input validation error: `temperature` must be strictly positive"
VLLM_400 = (
    "This model's maximum context length is 4096 tokens. However, you requested 5120 tokens "
    "(5000 in the messages, 120 in the completion)."
)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSageMaker]:
    fake = FakeSageMaker(ENDPOINT)
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", fake.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", fake.url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield fake
    fake.close()


def _engine(
    *, attempts: int = 1, per_instance: int = 4, ceiling: int = 16, timeout: float = 10.0, refresh: float = 30.0
) -> SageMakerEngine:
    session = boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )
    return SageMakerEngine(
        session,
        ENDPOINT,
        timeout_seconds=timeout,
        max_in_flight=ceiling,
        max_in_flight_per_instance=per_instance,
        retry_attempts=attempts,
        retry_max_wait_seconds=0.01,
        refresh_seconds=refresh,
    )


def _body(prompt: str = "Hello") -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": False}


def _complete(engine: SageMakerEngine, body: dict[str, Any]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        try:
            return await engine.chat_completion(body, "req-1")
        finally:
            await engine.aclose()

    return asyncio.run(run())


def _failure(engine: SageMakerEngine, body: dict[str, Any]) -> BaseException:
    with pytest.raises((TransientEngineError, PermanentEngineError)) as caught:
        _complete(engine, body)
    return caught.value


# --- Streaming and assembling -----------------------------------------------------------


def test_streams_the_request_and_assembles_one_chat_completion(endpoint: FakeSageMaker) -> None:
    document = _complete(_engine(), _body("Why is the sky blue?"))

    assert document == {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1795262400,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "echo: Why is the sky blue?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 3},
    }
    [call] = endpoint.calls
    assert call.operation == "InvokeEndpointWithResponseStream"
    assert (call.body["stream"], call.body["stream_options"]) == (True, {"include_usage": True})
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["Authorization"].startswith("AWS4-HMAC-SHA256")  # SigV4, as SageMaker requires


def test_assembles_tool_call_deltas_into_one_call() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return f"data: {json.dumps({'id': 'c', 'created': 1, 'model': 'm', 'choices': [choice]})}\n\n".encode()

    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"ci'}}
    parts = [
        chunk({"role": "assistant", "tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
        chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]

    [choice] = assemble(parts)["choices"]

    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
    ]


def test_a_stream_that_stops_before_the_generation_finished_is_incomplete() -> None:
    unfinished = b'data: {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": null}]}\n\n'

    with pytest.raises(IncompleteStream, match="ended before the generation finished"):
        assemble([unfinished[:20], unfinished[20:]])


def test_a_container_that_ignores_stream_and_answers_one_document_is_accepted() -> None:
    whole = {"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": {"content": "hi"}}]}

    assert assemble([json.dumps(whole).encode()]) == whole


# --- Errors ---------------------------------------------------------------------------------


def test_throttling_is_retried_within_the_call(endpoint: FakeSageMaker) -> None:
    endpoint.fail_next(throttling(), throttling())

    document = _complete(_engine(attempts=3), _body())

    assert document["choices"][0]["message"]["content"] == "echo: Hello"
    assert [c.status for c in endpoint.calls] == [400, 400, 200]


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (throttling(), 400),
        (service_error("ServiceUnavailable", 503), 503),
        (service_error("InternalFailure", 500), 500),
        (service_error("ModelNotReadyException", 429), 429),
        (invocation_timeout(), 0),
        (model_error(429, '{"error": "Model is overloaded", "error_type": "overloaded"}'), 429),
        (model_error(503, '{"error": "Service Unavailable"}'), 503),
    ],
    ids=["throttling", "unavailable", "internal", "not-ready", "timeout", "overloaded", "model-503"],
)
def test_service_and_model_failures_are_transient(endpoint: FakeSageMaker, reply: Reply, status: int) -> None:
    endpoint.fail_next(reply)

    error = _failure(_engine(), _body())

    assert isinstance(error, TransientEngineError)
    assert error.status == status


def test_a_model_stream_error_mid_stream_is_transient(endpoint: FakeSageMaker) -> None:
    endpoint.fail_next(stream_timeout())

    error = _failure(_engine(), _body())

    assert isinstance(error, TransientEngineError)
    assert "ModelStreamError" in str(error) and "allotted time" in str(error)


def test_an_error_event_from_the_engine_mid_stream_is_transient(endpoint: FakeSageMaker) -> None:
    endpoint.fail_next(Reply(events=[{"error": "Request failed during generation", "error_type": "generation"}]))

    error = _failure(_engine(), _body())

    assert isinstance(error, TransientEngineError)
    assert "Request failed during generation" in str(error)


@pytest.mark.parametrize(
    ("status", "message", "kind", "text"),
    [
        (422, json.dumps({"error": TGI_422, "error_type": "validation"}), ErrorKind.INVALID_REQUEST, TGI_422),
        (400, json.dumps({"object": "error", "message": VLLM_400}), ErrorKind.PROMPT_TOO_LONG, VLLM_400),
        (413, "Payload Too Large", ErrorKind.INVALID_REQUEST, "Payload Too Large"),
    ],
    ids=["tgi-422", "vllm-400-too-long", "413"],
)
def test_the_containers_refusals_of_the_request_are_permanent(
    endpoint: FakeSageMaker, status: int, message: str, kind: ErrorKind, text: str
) -> None:
    endpoint.fail_next(model_error(status, message))

    error = _failure(_engine(attempts=3), _body())

    assert isinstance(error, PermanentEngineError)
    assert (error.kind, error.status, error.message) == (kind, status, text)
    assert len(endpoint.calls) == 1  # never retried


def test_a_body_sagemaker_refuses_as_too_large_is_permanent(endpoint: FakeSageMaker) -> None:
    message = (
        "1 validation error detected: Value at 'body' failed to satisfy constraint: "
        f"Member must have length less than or equal to {MAX_BODY_BYTES}"
    )
    endpoint.fail_next(Reply(400, "ValidationError", {"message": message}))

    error = _failure(_engine(attempts=3), _body())

    assert isinstance(error, PermanentEngineError)
    assert (error.kind, error.status) == (ErrorKind.INVALID_REQUEST, 400)
    assert len(endpoint.calls) == 1


def test_a_body_over_the_limit_is_refused_without_calling(endpoint: FakeSageMaker) -> None:
    error = _failure(_engine(), _body("x" * MAX_BODY_BYTES))

    assert isinstance(error, PermanentEngineError)
    assert error.kind is ErrorKind.INVALID_REQUEST and str(MAX_BODY_BYTES) in error.message
    assert endpoint.calls == []


def test_a_missing_endpoint_is_transient_never_a_failed_result(endpoint: FakeSageMaker) -> None:
    endpoint.status = None

    error = _failure(_engine(attempts=2), _body())

    assert isinstance(error, TransientEngineError)
    assert f"Endpoint {ENDPOINT} of account" in str(error)
    assert len(endpoint.calls) == 2


def test_a_generation_over_the_timeout_is_transient_and_hung_up(endpoint: FakeSageMaker) -> None:
    endpoint.latency = 5.0

    error = _failure(_engine(timeout=0.5), _body())

    assert isinstance(error, TransientEngineError) and "timed out" in str(error)
    [call] = endpoint.calls
    asyncio.run(asyncio.sleep(0.3))
    assert call.disconnected


# --- Readiness and capacity -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ready"),
    [
        ("InService", True),
        ("Updating", True),
        ("SystemUpdating", True),
        ("RollingBack", True),
        ("UpdateRollbackFailed", True),
        ("Creating", False),
        ("OutOfService", False),
        ("Deleting", False),
        ("Failed", False),
        (None, False),
    ],
)
def test_ready_while_the_endpoint_serves(endpoint: FakeSageMaker, status: str | None, ready: bool) -> None:
    endpoint.status = status
    engine = _engine()

    assert asyncio.run(engine.is_ready()) is ready
    assert endpoint.describes == 1


def test_in_flight_limit_is_per_instance_times_the_instance_count(endpoint: FakeSageMaker) -> None:
    endpoint.instances = 3
    engine = _engine(per_instance=4, refresh=0.0)

    asyncio.run(engine.is_ready())
    three = engine.in_flight_limit()
    endpoint.instances = 5
    asyncio.run(engine.is_ready())

    assert (three, engine.in_flight_limit()) == (12, 20)  # the worker bounds it by WORKER_MAX_IN_FLIGHT


def test_endpoint_state_is_described_at_most_once_per_refresh_period(endpoint: FakeSageMaker) -> None:
    engine = _engine(refresh=30.0)

    for _ in range(5):
        asyncio.run(engine.is_ready())

    assert endpoint.describes == 1


def test_queue_size_is_unknown_on_sagemaker(endpoint: FakeSageMaker) -> None:
    assert asyncio.run(_engine().queue_size()) is None


def test_iam_actions_are_the_three_the_worker_calls_and_exist_in_iam(endpoint: FakeSageMaker) -> None:
    from parliament import iam_definition

    # What the adapter really calls, as the fake records it: each needs its action.
    engine = _engine()
    assert asyncio.run(engine.is_ready()) is True
    _complete(engine, _body("Hello"))
    called = {f"sagemaker:{c.operation}" for c in endpoint.calls}
    called |= {"sagemaker:DescribeEndpoint"} if endpoint.describes else set()
    assert called == {"sagemaker:InvokeEndpointWithResponseStream", "sagemaker:DescribeEndpoint"}
    assert called <= set(IAM_ACTIONS)
    # The streaming call's API reference asks for InvokeEndpoint too.
    assert "sagemaker:InvokeEndpoint" in IAM_ACTIONS

    sagemaker = next(s for s in iam_definition if s["prefix"] == "sagemaker")
    known = {f"sagemaker:{p['privilege']}" for p in sagemaker["privileges"]}

    assert IAM_ACTIONS == (
        "sagemaker:InvokeEndpoint",
        "sagemaker:InvokeEndpointWithResponseStream",
        "sagemaker:DescribeEndpoint",
    )
    assert set(IAM_ACTIONS) <= known


# --- Settings ---------------------------------------------------------------------------------

QUEUE = {"queue_url": "https://sqs.us-east-1.amazonaws.com/1/q", "results_bucket": "b", "model": MODEL}


def test_settings_require_an_endpoint_name_with_the_sagemaker_engine() -> None:
    with pytest.raises(ValidationError, match="WORKER_ENDPOINT_NAME is required when WORKER_ENGINE=sagemaker"):
        WorkerSettings(**QUEUE, engine="sagemaker")


def test_settings_refuse_an_endpoint_name_with_a_local_engine() -> None:
    with pytest.raises(ValidationError, match="WORKER_ENDPOINT_NAME is set but WORKER_ENGINE is 'tgi'"):
        WorkerSettings(**QUEUE, endpoint_name=ENDPOINT)


def test_settings_refuse_an_endpoint_name_sagemaker_would_refuse() -> None:
    with pytest.raises(ValidationError, match="endpoint_name"):
        WorkerSettings(**QUEUE, engine="sagemaker", endpoint_name="chat_endpoint")


def test_sagemaker_mode_watches_no_instance_and_the_ec2_mode_does() -> None:
    sagemaker = WorkerSettings(**QUEUE, engine="sagemaker", endpoint_name=ENDPOINT)

    assert (sagemaker.watches_instance, WorkerSettings(**QUEUE).watches_instance) == (False, True)


def test_a_pod_turns_instance_metadata_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # The EKS backend sets WORKER_INSTANCE_METADATA=false (components/worker_environment.py).
    monkeypatch.setenv("WORKER_INSTANCE_METADATA", "false")
    assert WorkerSettings(**QUEUE).watches_instance is False


def test_the_default_drain_ends_within_fargates_longest_stop_timeout() -> None:
    drain = WorkerSettings(**QUEUE, engine="sagemaker", endpoint_name=ENDPOINT).drain_seconds

    # The drain, then cancelled work's releases, then the flush: 10 s left for the last two.
    assert drain + RELEASE_GRACE_SECONDS + 10 <= FARGATE_MAX_STOP_TIMEOUT_SECONDS == 120
