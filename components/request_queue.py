"""Request queue for one model: an SQS queue with a dead-letter queue.

Creates: the queue, its dead-letter queue (which only this queue may use), and a policy on
each that refuses requests not made over TLS.
Defaults: SSE-SQS encryption; dead-letter after 5 receives; 20 s long polling; requests
kept 4 days, dead letters 14 days (SQS's maximum, so dead letters outlive live ones).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import _policy

DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 300
"""A worker that dies mid-generation hands the message back within 5 minutes; live
workers extend it while they generate, so long generations are not cut."""
DEFAULT_MAX_RECEIVE_COUNT = 5
"""Every delivery counts, including the ones a worker hands back when it drains (spot
interruption, scale-in) or after transient engine errors: 5 lets a good request survive a
bad hour; a poison one still stops after 5 generations."""
DEFAULT_RETENTION_SECONDS = 4 * 24 * 3600
"""SQS's default: a request waits up to 4 days for capacity."""
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
"""SQS's maximum, so a dead letter always outlives the request it came from."""
LONG_POLL_SECONDS = 20
"""SQS's maximum wait: fewer empty receives, lower cost, no added latency."""


@dataclass(frozen=True, kw_only=True)
class RequestQueueArgs:
    visibility_timeout_seconds: int = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
    """How long a worker owns a message before SQS hands it to another worker."""
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    """Deliveries before a message moves to the dead-letter queue."""
    retention_seconds: int = DEFAULT_RETENTION_SECONDS
    """How long an unserved request is kept. Must be below the dead-letter retention."""

    def __post_init__(self) -> None:
        if self.max_receive_count < 2:
            raise ValueError("max_receive_count must be at least 2 (AWS advises against 1)")
        if self.retention_seconds >= DEAD_LETTER_RETENTION_SECONDS:
            raise ValueError("retention_seconds must be below the dead-letter queue's 14 days")


class RequestQueue(pulumi.ComponentResource):
    queue: aws.sqs.Queue
    """Escape hatch: the main queue resource."""
    queue_url: pulumi.Output[str]
    """URL producers send to and workers poll."""
    queue_arn: pulumi.Output[str]
    queue_name: pulumi.Output[str]
    """The ``QueueName`` dimension of the queue's CloudWatch metrics."""
    dead_letter_queue_url: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    dead_letter_queue_name: pulumi.Output[str]
    produce_policy_json: pulumi.Output[str]
    """IAM policy: send to this queue only."""
    consume_policy_json: pulumi.Output[str]
    """IAM policy: receive, delete and change visibility on this queue only."""

    def __init__(self, name: str, args: RequestQueueArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:RequestQueue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=args.visibility_timeout_seconds,
            message_retention_seconds=args.retention_seconds,
            receive_wait_time_seconds=LONG_POLL_SECONDS,
            redrive_policy=dlq.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": args.max_receive_count})
            ),
            opts=child,
        )
        # Only this queue may send its dead letters here.
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq",
            queue_url=dlq.url,
            redrive_allow_policy=self.queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child,
        )
        for label, q in (("queue", self.queue), ("dlq", dlq)):
            aws.sqs.QueuePolicy(
                f"{name}-{label}-tls",
                queue_url=q.url,
                policy=_policy.document(_policy.deny_insecure_transport([q.arn])),
                opts=child,
            )
        self.queue_url = self.queue.url
        self.queue_arn = self.queue.arn
        self.queue_name = self.queue.name
        self.dead_letter_queue_url = dlq.url
        self.dead_letter_queue_arn = dlq.arn
        self.dead_letter_queue_name = dlq.name
        self.produce_policy_json = _policy.document(
            _policy.allow(
                ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                [self.queue.arn],
                sid="ProduceRequests",
            )
        )
        self.consume_policy_json = _policy.document(
            _policy.allow(
                [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                ],
                [self.queue.arn],
                sid="ConsumeRequests",
            )
        )
        self.register_outputs(
            {
                "queue_url": self.queue_url,
                "queue_arn": self.queue_arn,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
                "produce_policy_json": self.produce_policy_json,
                "consume_policy_json": self.consume_policy_json,
            }
        )
