"""SIGTERM: stop receiving, finish what fits in the drain budget, hand back the rest,
flush metrics, exit 0; a second SIGTERM exits at once."""

from __future__ import annotations

import time

from fakes import AwsRecorder, FakeEmfAgent, FakeEngine, eventually
from worker_harness import AwsStack, StartWorker, chat_request, event_time

from model_server import metrics
from model_server.messages import ResultStatus
from model_server.worker.service import SECOND_SIGNAL_EXIT_CODE


def test_finishes_in_flight_work_then_exits_zero(aws: AwsStack, engine: FakeEngine, start_worker: StartWorker) -> None:
    engine.latency = 0.7
    worker = start_worker(WORKER_DRAIN_SECONDS="5")
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    worker.terminate()

    assert worker.wait(8) == 0
    result = aws.result("req-1")
    assert result is not None and result.status is ResultStatus.SUCCEEDED
    assert aws.counts() == (0, 0)
    assert worker.wait_for("drained")["released"] == 0


def test_stops_receiving_on_sigterm(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    engine.latency = 0.7
    worker = start_worker()
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    worker.terminate()
    signalled = event_time(worker.wait_for("signal_received"))
    aws.send(chat_request("req-2"))

    assert worker.wait(8) == 0
    receives_after = [t for action, t in recorder.arrivals if action == "ReceiveMessage" and t > signalled + 0.002]
    assert receives_after == []
    assert engine.calls_for("req-2") == []
    assert aws.counts() == (1, 0)


def test_hands_back_work_that_cannot_finish_within_the_drain_budget(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    engine.latency = 30.0
    worker = start_worker(WORKER_DRAIN_SECONDS="1", WORKER_VISIBILITY_TIMEOUT_SECONDS="60")
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    worker.terminate()

    assert worker.wait(5) == 0
    assert aws.counts() == (1, 0)  # visible now, not in 60 s
    assert [c.params["VisibilityTimeout"] for c in recorder.of("ChangeMessageVisibility")] == [0]
    [call] = engine.calls_for("req-1")
    eventually(lambda: call.disconnected, 2, "the engine to see the generation cancelled")
    assert aws.result("req-1") is None


def test_exits_at_once_on_a_second_sigterm(aws: AwsStack, engine: FakeEngine, start_worker: StartWorker) -> None:
    engine.latency = 30.0
    worker = start_worker(WORKER_DRAIN_SECONDS="60")
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")
    worker.terminate()
    worker.wait_for("draining")

    worker.terminate()
    second = time.monotonic()

    assert worker.wait(3) == SECOND_SIGNAL_EXIT_CODE
    assert time.monotonic() - second < 1.0
    worker.wait_for("second_signal_exiting_now")


def test_releases_a_message_received_after_sigterm_without_starting_it(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    worker = start_worker(WORKER_POLL_WAIT_SECONDS="3")
    eventually(lambda: any(a == "ReceiveMessage" for a, _ in recorder.arrivals), 5, "a long poll in progress")
    worker.terminate()
    worker.wait_for("draining")
    aws.send(chat_request("req-1"))  # the receive in progress returns it

    assert worker.wait(8) == 0
    released = worker.wait_for("message_released", id="req-1")
    assert (released["reason"], released["visible_in_seconds"]) == ("received while draining", 0)
    assert engine.calls == []
    assert aws.counts() == (1, 0)


def test_flushes_metrics_on_sigterm(aws: AwsStack, emf_agent: FakeEmfAgent, start_worker: StartWorker) -> None:
    worker = start_worker(WORKER_EMF_ENDPOINT=emf_agent.endpoint, WORKER_METRICS_INTERVAL_SECONDS="600")
    aws.send(chat_request("req-1"))
    worker.wait_for("message_deleted", id="req-1")
    assert emf_agent.received() == []  # nothing due before the interval

    worker.terminate()

    assert worker.wait(5) == 0
    eventually(emf_agent.received, 2, "the final metrics document")
    [document] = emf_agent.received()
    assert document[metrics.SUCCEEDED] == 1
