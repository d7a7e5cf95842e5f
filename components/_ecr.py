"""Amazon ECR image references: which repository an image lives in, for pull permissions."""

from __future__ import annotations

import re
from collections.abc import Sequence

from components._policy import Statement, allow

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(?::[\w.-]+|@sha256:[0-9a-f]{64})$"
)


def is_ecr_image(image: str) -> bool:
    return _ECR_IMAGE.fullmatch(image) is not None


def region_of(image: str) -> str | None:
    """The region of an ECR image's registry; None for an image outside ECR."""
    match = _ECR_IMAGE.fullmatch(image)
    return match["region"] if match else None


def registries(*images: str) -> list[str]:
    """The ECR registries (AWS's or the account's) of those images that are in ECR."""
    return sorted({i.split("/", 1)[0] for i in images if is_ecr_image(i)})


def repository_arn(image: str) -> str:
    """``123456789012.dkr.ecr.us-east-1.amazonaws.com/team/worker:1.0`` ->
    ``arn:aws:ecr:us-east-1:123456789012:repository/team/worker``."""
    match = _ECR_IMAGE.fullmatch(image)
    if match is None:
        raise ValueError(f"not an Amazon ECR image with a tag or digest: {image!r}")
    partition = "aws-cn" if ".amazonaws.com.cn/" in image else "aws"
    return f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"


PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
"""What pulling an image from a repository takes (besides logging in)."""


def pull_statements(images: Sequence[str], sid: str) -> list[Statement]:
    """IAM statements to pull those of ``images`` that are in ECR: log in, and read their
    repositories only. None when no image is in ECR."""
    arns = [repository_arn(i) for i in images if is_ecr_image(i)]
    if not arns:
        return []
    # GetAuthorizationToken has no resource to scope it to.
    return [allow(["ecr:GetAuthorizationToken"], ["*"], sid="EcrLogin"), allow(PULL_ACTIONS, arns, sid=sid)]
