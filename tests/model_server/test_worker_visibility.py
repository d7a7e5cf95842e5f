"""Visibility: a running generation keeps its message hidden, and only while it runs."""

from __future__ import annotations

import threading
import time

from fakes import AwsRecorder, FakeEngine, eventually
from worker_harness import AwsStack, StartWorker, chat_request

SHORT_VISIBILITY = {"WORKER_VISIBILITY_TIMEOUT_SECONDS": "1", "WORKER_HEARTBEAT_SECONDS": "0.3"}


def test_extends_visibility_while_a_generation_runs(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    engine.latency = 2.0  # twice the visibility timeout
    worker = start_worker(**SHORT_VISIBILITY)
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")
    visible: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            visible.append(aws.counts()[0])
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = eventually(lambda: aws.result("req-1"), 10, "the result")
    finally:
        done.set()
        sampler.join()

    assert max(visible) == 0  # never handed to anyone else
    assert len(engine.calls_for("req-1")) == 1
    assert result.receive_count == 1
    extensions = recorder.of("ChangeMessageVisibility")
    assert len(extensions) >= 4
    assert {c.params["VisibilityTimeout"] for c in extensions} == {1}


def test_stops_extending_visibility_when_the_generation_ends(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    engine.latency = 0.8
    worker = start_worker(**SHORT_VISIBILITY)
    aws.send(chat_request("req-1"))
    deleted = worker.wait_for("message_deleted", id="req-1")
    time.sleep(0.7)  # over two heartbeat periods

    extensions = recorder.of("ChangeMessageVisibility")
    assert extensions, "the generation outlived a heartbeat period: it should have extended"
    [delete] = recorder.of("DeleteMessage")
    assert all(c.started < delete.started for c in extensions)
    assert worker.events("visibility_extended", id="req-1")[-1]["time"] <= deleted["time"]


def test_abandons_a_generation_whose_receipt_became_invalid(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    engine.latency = 6.0
    worker = start_worker(**SHORT_VISIBILITY)
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")
    aws.sqs.purge_queue(QueueUrl=aws.queue_url)  # the message is gone: the receipt is void

    worker.wait_for("work_abandoned", id="req-1", timeout=5)

    [call] = engine.calls_for("req-1")
    eventually(lambda: call.disconnected, 2, "the engine to see the worker hang up")
    assert aws.result("req-1") is None
    assert recorder.of("DeleteMessage") == []
    assert all(c.params["VisibilityTimeout"] != 0 for c in recorder.of("ChangeMessageVisibility"))
