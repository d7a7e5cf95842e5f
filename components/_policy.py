"""IAM policy documents as data: one way to write them, so every document in the plan has
the same shape (and the IAM linter sees them all)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

Statement = dict[str, Any]


def allow(
    actions: Sequence[str],
    resources: Sequence[pulumi.Input[str]] | pulumi.Input[str],
    sid: str | None = None,
    condition: dict[str, Any] | None = None,
) -> Statement:
    statement: Statement = {"Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if sid:
        statement["Sid"] = sid
    if condition:
        statement["Condition"] = condition
    return statement


def deny_insecure_transport(resources: Sequence[pulumi.Input[str]]) -> Statement:
    """Refuse any request not made over TLS (AWS's recommended guard for S3, SQS, SNS)."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "*",
        "Resource": list(resources),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def document(*statements: Statement) -> pulumi.Output[str]:
    """A policy document as JSON text; statements may hold Outputs (ARNs)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service_trust(service: str, *, tag_session: bool = False) -> Statement:
    """A trust statement letting exactly one AWS service assume the role; ``tag_session`` for
    services that tag the sessions they open (EKS, EKS Pod Identity)."""
    action: str | list[str] = ["sts:AssumeRole", "sts:TagSession"] if tag_session else "sts:AssumeRole"
    return {"Effect": "Allow", "Principal": {"Service": service}, "Action": action}


def assume_role_policy(service: str, *, tag_session: bool = False) -> str:
    """Trust policy that lets exactly one AWS service assume the role."""
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [service_trust(service, tag_session=tag_session)]}, sort_keys=True
    )


def role_policies(
    prefix: str, role: aws.iam.Role, documents: Mapping[str, pulumi.Input[str]], opts: pulumi.ResourceOptions
) -> list[aws.iam.RolePolicy]:
    """``role``'s inline policies, one per document, named ``<prefix>-<label>``."""
    return [
        aws.iam.RolePolicy(f"{prefix}-{label}", role=role.id, policy=document, opts=opts)
        for label, document in documents.items()
    ]
