"""Engine and message failures: transient ones are retried, permanent ones answered at
once, and whatever keeps failing ends in the dead-letter queue."""

from __future__ import annotations

import json
import time

from fakes import (
    OVERLOADED,
    UNAVAILABLE,
    AwsRecorder,
    FakeEngine,
    Scripted,
    eventually,
    tgi_error,
    vllm_error,
)
from worker_harness import MODEL, AwsStack, StartWorker, chat_request

from model_server.messages import ErrorKind, ResultStatus


def test_retries_transient_engine_errors_within_one_delivery(
    aws: AwsStack, engine: FakeEngine, start_worker: StartWorker
) -> None:
    engine.fail_next(UNAVAILABLE, OVERLOADED)
    worker = start_worker(WORKER_ENGINE_RETRY_ATTEMPTS="3")
    aws.send(chat_request("req-1"))

    result = eventually(lambda: aws.result("req-1"), 10, "the result")

    assert result.status is ResultStatus.SUCCEEDED
    assert result.receive_count == 1
    assert [c.status for c in engine.calls_for("req-1")] == [503, 429, 200]
    assert [e["attempt"] for e in worker.events("engine_retry", id="req-1")] == [1, 2]


def test_releases_the_message_with_backoff_when_transient_errors_persist(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    engine.fail_next(UNAVAILABLE, OVERLOADED)
    start_worker(WORKER_ENGINE_RETRY_ATTEMPTS="2", WORKER_RELEASE_BACKOFF_BASE_SECONDS="1")
    aws.send(chat_request("req-1"))

    result = eventually(lambda: aws.result("req-1"), 10, "the result of the second delivery")

    assert result.status is ResultStatus.SUCCEEDED
    assert result.receive_count == 2
    [release] = recorder.of("ChangeMessageVisibility")
    delay = release.params["VisibilityTimeout"]
    assert delay == 1  # the base for a first receive, jittered (unit-tested) and rounded up
    calls = engine.calls_for("req-1")
    assert [c.status for c in calls] == [503, 429, 200]
    assert calls[2].arrived - calls[1].finished >= delay - 0.1


def test_treats_an_engine_timeout_as_transient(aws: AwsStack, engine: FakeEngine, start_worker: StartWorker) -> None:
    engine.fail_next(Scripted(200, {}, delay=3.0))
    worker = start_worker(
        WORKER_ENGINE_TIMEOUT_SECONDS="0.5", WORKER_ENGINE_RETRY_ATTEMPTS="1", WORKER_RELEASE_BACKOFF_BASE_SECONDS="0"
    )
    aws.send(chat_request("req-1"))

    result = eventually(lambda: aws.result("req-1"), 10, "the result of the second delivery")

    assert result.status is ResultStatus.SUCCEEDED
    assert result.receive_count == 2
    assert "timed out" in worker.events("message_released", id="req-1")[0]["reason"]


def test_answers_an_invalid_request_with_a_failed_result_at_once(
    aws: AwsStack, engine: FakeEngine, start_worker: StartWorker
) -> None:
    message = "Input validation error: `temperature` must be strictly positive"
    engine.fail_next(tgi_error(422, message))
    start_worker()
    aws.send(chat_request("req-1", temperature=0))

    result = eventually(lambda: aws.result("req-1"), 10, "the result")

    assert result.status is ResultStatus.FAILED
    assert (result.error.kind, result.error.engine_status) == (ErrorKind.INVALID_REQUEST, 422)
    assert result.error.message == message
    assert len(engine.calls_for("req-1")) == 1 and result.receive_count == 1
    eventually(lambda: aws.counts() == (0, 0), 5, "the message deleted")


def test_reports_a_prompt_too_long_as_such(aws: AwsStack, engine: FakeEngine, start_worker: StartWorker) -> None:
    message = (
        "This model's maximum context length is 4096 tokens. However, you requested "
        "5120 tokens (5000 in the messages, 120 in the completion)."
    )
    engine.fail_next(vllm_error(400, message))
    start_worker()
    aws.send(chat_request("req-1"))

    result = eventually(lambda: aws.result("req-1"), 10, "the result")

    assert (result.error.kind, result.error.engine_status) == (ErrorKind.PROMPT_TOO_LONG, 400)
    assert result.error.message == message
    assert len(engine.calls_for("req-1")) == 1


def test_a_request_that_keeps_failing_ends_in_the_dead_letter_queue(
    moto_url: str, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    stack = AwsStack.create(moto_url, max_receive_count=2)
    engine.always = UNAVAILABLE
    start_worker(
        WORKER_QUEUE_URL=stack.queue_url,
        WORKER_RESULTS_BUCKET=stack.bucket,
        WORKER_ENGINE_RETRY_ATTEMPTS="1",
        WORKER_RELEASE_BACKOFF_BASE_SECONDS="0",
    )
    stack.send(chat_request("req-1"))

    eventually(lambda: stack.dlq_size() == 1, 10, "the message in the dead-letter queue")

    assert stack.counts() == (0, 0)
    assert len(engine.calls_for("req-1")) == 2  # maxReceiveCount deliveries, no more
    assert stack.result("req-1") is None
    assert recorder.of("DeleteMessage") == []


def test_unusable_messages_end_in_the_dead_letter_queue(
    moto_url: str, engine: FakeEngine, start_worker: StartWorker
) -> None:
    stack = AwsStack.create(moto_url, max_receive_count=2)
    worker = start_worker(
        WORKER_QUEUE_URL=stack.queue_url,
        WORKER_RESULTS_BUCKET=stack.bucket,
        WORKER_RELEASE_BACKOFF_BASE_SECONDS="0",
    )
    hello = {"messages": [{"role": "user", "content": "hi"}]}
    unusable = {
        "not JSON": "this is not JSON",
        "no id to answer to": json.dumps({"model": MODEL, "request": hello}),
        "another model's request": json.dumps({"id": "r", "model": "other", "request": hello}),
    }
    for body in unusable.values():
        stack.send_raw(body)

    eventually(lambda: stack.dlq_size() == len(unusable), 10, "all in the dead-letter queue")

    assert stack.counts() == (0, 0)
    assert engine.calls == []
    assert len(worker.events("message_rejected")) == 2 * len(unusable)  # maxReceiveCount each


def test_answers_a_request_older_than_the_maximum_age_with_an_expired_result(
    aws: AwsStack, engine: FakeEngine, start_worker: StartWorker
) -> None:
    engine.ready = False  # the request waits in the queue meanwhile
    start_worker(WORKER_MAX_REQUEST_AGE_SECONDS="0.5")
    aws.send(chat_request("req-1"))
    time.sleep(1.0)
    engine.ready = True

    result = eventually(lambda: aws.result("req-1"), 10, "the result")

    assert result.status is ResultStatus.FAILED
    assert result.error.kind is ErrorKind.EXPIRED
    assert "maximum request age" in result.error.message
    assert engine.calls == []
