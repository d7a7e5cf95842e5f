"""The stack's alarm topic: where every alarm and refresh-failure event is sent.

Creates: an SNS topic encrypted with the account's SNS key, a policy that lets CloudWatch
alarms and EventBridge rules of this account publish (and refuses anything without TLS),
and an email subscription per address (each must confirm AWS's email).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import _policy


@dataclass(frozen=True, kw_only=True)
class AlarmTopicArgs:
    emails: Sequence[str] = field(default_factory=tuple)
    kms_key_id: str | None = None
    """KMS key for the topic. None creates a customer key that CloudWatch and EventBridge
    may use: AWS's own SNS key does not let them publish."""


class AlarmTopic(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AlarmTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:AlarmTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        key_id: pulumi.Input[str]
        if args.kms_key_id is None:
            key = aws.kms.Key(
                f"{name}-key",
                description="Encrypts the alarm topic; CloudWatch and EventBridge may use it",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=_policy.document(
                    {
                        "Sid": "AccountAdministers",
                        "Effect": "Allow",
                        "Principal": {"AWS": account.apply(lambda a: f"arn:aws:iam::{a}:root")},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "AlarmPublishers",
                        "Effect": "Allow",
                        "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                        "Resource": "*",
                    },
                ),
                opts=child,
            )
            key_id = key.arn
        else:
            key_id = args.kms_key_id
        topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=key_id, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=topic.arn,
            policy=_policy.document(
                {
                    "Sid": "AlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
                    "Action": "sns:Publish",
                    "Resource": topic.arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
                _policy.deny_insecure_transport([topic.arn]),
            ),
            opts=child,
        )
        for email in args.emails:
            # Named by the address, not its position: reordering replaces nothing.
            digest = hashlib.sha256(email.lower().encode()).hexdigest()[:8]
            aws.sns.TopicSubscription(
                f"{name}-email-{digest}", topic=topic.arn, protocol="email", endpoint=email, opts=child
            )
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})
