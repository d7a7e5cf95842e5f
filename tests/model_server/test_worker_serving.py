"""Serving: when the worker receives, how much it takes, what it posts, what it writes."""

from __future__ import annotations

import json
import threading
import time

from fakes import AwsRecorder, FakeEngine, eventually
from worker_harness import MODEL, AwsStack, StartWorker, chat_request

from model_server.messages import ErrorKind, ResultStatus


def test_serves_a_request_and_writes_a_succeeded_result(
    aws: AwsStack, engine: FakeEngine, start_worker: StartWorker
) -> None:
    start_worker()
    request = chat_request("req-1", prompt="Tell me a joke", max_tokens=7, temperature=0.2)
    aws.send(request)

    result = eventually(lambda: aws.result("req-1"), 10, "the result")

    assert result.status is ResultStatus.SUCCEEDED
    assert result.response["choices"][0]["message"]["content"] == "echo: Tell me a joke"
    assert result.response["usage"]["completion_tokens"] == 7
    assert (result.id, result.model, result.receive_count) == ("req-1", MODEL, 1)
    assert result.timings.sent_at <= result.timings.started_at <= result.timings.finished_at
    [call] = engine.calls_for("req-1")
    assert call.body["temperature"] == 0.2 and call.body["max_tokens"] == 7
    eventually(lambda: aws.counts() == (0, 0), 5, "the message to be deleted")


def test_does_not_receive_until_the_engine_is_ready(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    engine.ready = False
    worker = start_worker()
    aws.send(chat_request("req-1"))
    worker.wait_for("engine_not_ready")
    time.sleep(0.6)  # three readiness checks

    assert recorder.of("ReceiveMessage") == []
    assert aws.counts() == (1, 0)

    engine.ready = True
    eventually(lambda: aws.result("req-1"), 10, "the result once the engine is ready")


def test_holds_no_more_messages_than_max_in_flight(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    engine.latency = 0.4
    start_worker(WORKER_MAX_IN_FLIGHT="3")
    ids = [f"req-{i}" for i in range(7)]
    aws.send(*(chat_request(i) for i in ids))
    hidden: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            hidden.append(aws.counts()[1])
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        eventually(lambda: all(aws.result(i) for i in ids), 15, "all results")
    finally:
        sampling.set()
        sampler.join()

    assert engine.max_active == 3
    assert max(hidden) <= 3
    assert {c.params["MaxNumberOfMessages"] for c in recorder.of("ReceiveMessage")} <= {1, 2, 3}


def test_receives_with_long_polling(aws: AwsStack, recorder: AwsRecorder, start_worker: StartWorker) -> None:
    start_worker(WORKER_POLL_WAIT_SECONDS="1")
    time.sleep(1.3)  # idle on an empty queue

    started = [action for action, _ in recorder.arrivals if action == "ReceiveMessage"]
    assert 1 <= len(started) <= 2  # one receive per wait, not a busy loop
    assert {c.params["WaitTimeSeconds"] for c in recorder.of("ReceiveMessage")} == {1}


def test_posts_the_stack_model_name_that_vllm_requires(
    aws: AwsStack, engine: FakeEngine, start_worker: StartWorker
) -> None:
    engine.served_model = MODEL  # like vLLM's --served-model-name: other names get 404
    start_worker(WORKER_ENGINE="vllm")
    aws.send(chat_request("req-1", model="gpt-4o"))

    result = eventually(lambda: aws.result("req-1"), 10, "the result")

    assert result.status is ResultStatus.SUCCEEDED
    assert [c.body["model"] for c in engine.calls_for("req-1")] == [MODEL]
    assert result.engine == "vllm"


def test_refuses_a_streaming_request_with_a_failed_result(
    aws: AwsStack, engine: FakeEngine, start_worker: StartWorker
) -> None:
    start_worker()
    body = {"id": "req-1", "model": MODEL, "request": {"messages": [{"role": "user", "content": "hi"}], "stream": True}}
    aws.send_raw(json.dumps(body))

    result = eventually(lambda: aws.result("req-1"), 10, "the result")

    assert result.status is ResultStatus.FAILED
    assert result.error.kind is ErrorKind.INVALID_REQUEST
    assert "streaming is not supported" in result.error.message
    assert engine.calls == []


def test_logs_one_json_object_per_line_with_the_request_id(aws: AwsStack, start_worker: StartWorker) -> None:
    worker = start_worker()
    aws.send(chat_request("req-1"))
    worker.wait_for("message_deleted", id="req-1")

    lines = [line for line in worker.lines if line.strip()]  # whole lines only: see _pump
    events = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    assert all({"time", "level", "event", "model"} <= e.keys() for e in events)
    per_request = {"generation_started", "result_written", "message_deleted"}
    assert {e["event"] for e in events if e.get("id") == "req-1"} == per_request
