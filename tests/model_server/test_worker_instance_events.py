"""Instance events from instance metadata: spot interruption, rebalance recommendation and
scale-in drain the worker; scale-in then completes the lifecycle action."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fakes import AutoScalingStub, AwsRecorder, FakeEngine, FakeImds, eventually, unused_loopback_url
from worker_harness import AwsStack, StartWorker, chat_request, event_time

from model_server.messages import ResultStatus
from model_server.worker.instance_metadata import (
    LIFECYCLE_STATE_PATH,
    REBALANCE_PATH,
    SPOT_ACTION_PATH,
)

HOOK = "llm-chat-drain"


def _spot_notice(seconds_from_now: float) -> dict[str, str]:
    when = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return {"action": "terminate", "time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _rebalance_notice() -> dict[str, str]:
    return {"noticeTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


@pytest.mark.parametrize(
    ("path", "notice", "reason"),
    [
        (SPOT_ACTION_PATH, lambda: _spot_notice(120), "spot_interruption_notice"),
        (REBALANCE_PATH, _rebalance_notice, "rebalance_recommendation"),
    ],
    ids=["spot", "rebalance"],
)
def test_a_notice_stops_receiving_and_lets_in_flight_work_finish(
    path: str,
    notice: Callable[[], dict[str, str]],
    reason: str,
    aws: AwsStack,
    engine: FakeEngine,
    imds: FakeImds,
    start_worker: StartWorker,
) -> None:
    engine.latency = 0.7
    worker = start_worker()
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    imds.set(path, notice())
    worker.wait_for("draining", reason=reason)
    aws.send(chat_request("req-2"))
    worker.wait_for("drained_waiting_for_termination")

    assert aws.result("req-1").status is ResultStatus.SUCCEEDED
    assert engine.calls_for("req-2") == []
    assert aws.counts() == (1, 0)
    assert worker.process.poll() is None  # stays, not receiving, until the instance stops
    worker.terminate()
    assert worker.wait(3) == 0


def test_spot_interruption_hands_back_what_cannot_finish_before_the_notice_time(
    aws: AwsStack,
    engine: FakeEngine,
    imds: FakeImds,
    recorder: AwsRecorder,
    start_worker: StartWorker,
) -> None:
    engine.latency = 30.0
    worker = start_worker(WORKER_INTERRUPTION_MARGIN_SECONDS="1", WORKER_DRAIN_SECONDS="100")
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    notice = _spot_notice(3)
    imds.set(SPOT_ACTION_PATH, notice)
    released = worker.wait_for("message_released", id="req-1", timeout=6)

    interruption = datetime.strptime(notice["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert event_time(released) < interruption.timestamp()
    assert released["visible_in_seconds"] == 0
    assert aws.counts() == (1, 0)
    assert aws.result("req-1") is None


@pytest.mark.parametrize("group_from", ["metadata-tags", "environment"])
def test_scale_in_drains_then_completes_the_lifecycle_action(
    group_from: str,
    aws: AwsStack,
    engine: FakeEngine,
    imds: FakeImds,
    recorder: AwsRecorder,
    autoscaling: AutoScalingStub,
    start_worker: StartWorker,
) -> None:
    engine.latency = 0.7
    env = {"WORKER_LIFECYCLE_HOOK_NAME": HOOK}
    if group_from == "environment":
        env["WORKER_AUTOSCALING_GROUP_NAME"] = "group-from-env"
    worker = start_worker(**env)
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    imds.set(LIFECYCLE_STATE_PATH, "Terminated")
    worker.wait_for("lifecycle_action_completed", timeout=5)

    [complete] = autoscaling.actions("CompleteLifecycleAction")
    assert complete.params == {
        "AutoScalingGroupName": "llm-chat" if group_from == "metadata-tags" else "group-from-env",
        "LifecycleHookName": HOOK,
        "InstanceId": "i-0a1b2c3d4e5f67890",
        "LifecycleActionResult": "CONTINUE",
    }
    [put] = recorder.of("PutObject")
    assert put.at <= complete.at  # the drain finished before the instance was let go


def test_returning_to_the_warm_pool_drains_then_completes_the_termination_hook(
    aws: AwsStack,
    engine: FakeEngine,
    imds: FakeImds,
    recorder: AwsRecorder,
    autoscaling: AutoScalingStub,
    start_worker: StartWorker,
) -> None:
    # A warm pool that reuses instances on scale-in sends them back at Warmed:Pending:Wait
    # for the termination hook; their target state is Warmed:Stopped, never Terminated.
    engine.latency = 0.7
    imds.set(LIFECYCLE_STATE_PATH, "InService")
    worker = start_worker(WORKER_LIFECYCLE_HOOK_NAME=HOOK)
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    imds.set(LIFECYCLE_STATE_PATH, "Warmed:Stopped")
    worker.wait_for("draining", reason="scale_in_to_warm_pool", timeout=3)
    worker.wait_for("lifecycle_action_completed", timeout=5)

    [complete] = autoscaling.actions("CompleteLifecycleAction")
    assert complete.params["LifecycleHookName"] == HOOK
    assert complete.params["LifecycleActionResult"] == "CONTINUE"
    [put] = recorder.of("PutObject")
    assert put.at <= complete.at


def test_records_lifecycle_heartbeats_while_a_long_scale_in_drain_runs(
    aws: AwsStack,
    engine: FakeEngine,
    imds: FakeImds,
    autoscaling: AutoScalingStub,
    start_worker: StartWorker,
) -> None:
    engine.latency = 1.2
    worker = start_worker(WORKER_LIFECYCLE_HOOK_NAME=HOOK, WORKER_LIFECYCLE_HEARTBEAT_SECONDS="0.3")
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    imds.set(LIFECYCLE_STATE_PATH, "Terminated")
    worker.wait_for("lifecycle_action_completed", timeout=5)

    heartbeats = autoscaling.actions("RecordLifecycleActionHeartbeat")
    [complete] = autoscaling.actions("CompleteLifecycleAction")
    assert len(heartbeats) >= 2
    assert all(h.at < complete.at for h in heartbeats)
    expected = {"AutoScalingGroupName": "llm-chat", "LifecycleHookName": HOOK, "InstanceId": "i-0a1b2c3d4e5f67890"}
    assert all(h.params == expected for h in heartbeats)


def test_gets_a_new_metadata_token_when_the_old_one_is_rejected(
    aws: AwsStack, imds: FakeImds, start_worker: StartWorker
) -> None:
    worker = start_worker()
    time.sleep(0.5)  # a few polls with the first token
    issued = imds.tokens_issued

    imds.invalidate_tokens()
    imds.set(SPOT_ACTION_PATH, _spot_notice(120))

    worker.wait_for("draining", reason="spot_interruption_notice", timeout=3)
    assert imds.tokens_issued > issued
    assert imds.rejected_gets >= 1


def test_runs_off_ec2_and_says_so_once(aws: AwsStack, start_worker: StartWorker) -> None:
    worker = start_worker(WORKER_IMDS_URL=unused_loopback_url())
    aws.send(chat_request("req-1"))

    result = eventually(lambda: aws.result("req-1"), 10, "the result")
    time.sleep(0.6)  # three more metadata polls

    assert result.instance_id == socket.gethostname()
    assert len(worker.events("instance_metadata_unreachable")) == 1


def test_does_not_receive_while_the_instance_is_in_a_warm_pool(
    aws: AwsStack, imds: FakeImds, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    imds.set(LIFECYCLE_STATE_PATH, "Warmed:Running")
    worker = start_worker()
    aws.send(chat_request("req-1"))
    worker.wait_for("warm_pool_paused")
    time.sleep(0.5)  # two more metadata polls
    assert recorder.of("ReceiveMessage") == []

    imds.set(LIFECYCLE_STATE_PATH, "InService")

    eventually(lambda: aws.result("req-1"), 10, "the result once in service")
