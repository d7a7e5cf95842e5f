"""RequestQueue: an encrypted queue with a dead-letter queue and scoped IAM policies."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.request_queue import RequestQueue, RequestQueueArgs
from infra.plan import Plan, run_program


def plan_queue(**args: int) -> tuple[Plan, dict[str, str]]:
    captured: dict[str, str] = {}

    def program() -> None:
        q = RequestQueue("chat", RequestQueueArgs(**args))
        q.produce_policy_json.apply(lambda v: captured.__setitem__("produce", v))
        q.consume_policy_json.apply(lambda v: captured.__setitem__("consume", v))
        q.queue_arn.apply(lambda v: captured.__setitem__("arn", v))
        q.dead_letter_queue_arn.apply(lambda v: captured.__setitem__("dlq_arn", v))
        pulumi.export("x", q.queue_url)

    return run_program(program), captured


def test_request_queue_has_dead_letter_queue_by_default() -> None:
    plan, captured = plan_queue()
    queue = plan.named("aws:sqs/queue:Queue", "chat-queue")
    redrive = json.loads(queue.input("redrivePolicy"))
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"] == captured["dlq_arn"]
    assert captured["dlq_arn"] != captured["arn"]


def test_queues_are_encrypted() -> None:
    plan, _ = plan_queue()
    assert [q.input("sqsManagedSseEnabled") for q in plan.of_type("aws:sqs/queue:Queue")] == [True, True]


def test_dead_letter_queue_outlives_the_queue() -> None:
    plan, _ = plan_queue(retention_seconds=86400)
    queue, dlq = plan.named("aws:sqs/queue:Queue", "chat-queue"), plan.named("aws:sqs/queue:Queue", "chat-dlq")
    assert queue.input("messageRetentionSeconds") == 86400
    assert dlq.input("messageRetentionSeconds") == 1209600


def test_long_polling_is_on() -> None:
    plan, _ = plan_queue()
    assert plan.named("aws:sqs/queue:Queue", "chat-queue").input("receiveWaitTimeSeconds") == 20


def test_only_this_queue_may_use_the_dead_letter_queue() -> None:
    plan, captured = plan_queue()
    allow = json.loads(
        plan.named("aws:sqs/redriveAllowPolicy:RedriveAllowPolicy", "chat-dlq").input("redriveAllowPolicy")
    )
    assert allow == {"redrivePermission": "byQueue", "sourceQueueArns": [captured["arn"]]}


def test_both_queues_refuse_requests_without_tls() -> None:
    plan, _ = plan_queue()
    for policy in plan.of_type("aws:sqs/queuePolicy:QueuePolicy"):
        [statement] = json.loads(policy.input("policy"))["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_consume_policy_is_scoped_to_this_queue() -> None:
    _, captured = plan_queue()
    [statement] = json.loads(captured["consume"])["Statement"]
    assert statement["Resource"] == [captured["arn"]]
    assert set(statement["Action"]) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }


def test_produce_policy_only_sends() -> None:
    _, captured = plan_queue()
    [statement] = json.loads(captured["produce"])["Statement"]
    assert statement["Resource"] == [captured["arn"]]
    assert "sqs:ReceiveMessage" not in statement["Action"]
    assert "sqs:SendMessage" in statement["Action"]


def test_rejects_a_single_receive_before_dead_letter() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        RequestQueueArgs(max_receive_count=1)


def test_rejects_retention_as_long_as_the_dead_letter_queue() -> None:
    with pytest.raises(ValueError, match="below the dead-letter"):
        RequestQueueArgs(retention_seconds=14 * 24 * 3600)
