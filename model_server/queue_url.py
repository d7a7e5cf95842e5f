"""The AWS session for a queue: shared by the client and the worker (boto3 and stdlib only)."""

from __future__ import annotations

import os
import re

import boto3

_REGION = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")


def region_of(queue_url: str) -> str | None:
    """The region in an AWS queue URL (``https://sqs.<region>.amazonaws.com/...``); None
    for other URLs (a local emulator)."""
    match = _REGION.match(queue_url)
    return match.group(1) if match else None


def session_for(queue_url: str | None) -> boto3.Session:
    """boto3's usual chain, and a region when it finds none: AWS_REGION (the SDKs'
    standard name, which botocore does not read) or the queue URL's. boto3 never reads
    the region from instance metadata, so on EC2 without AWS_DEFAULT_REGION this matters."""
    session = boto3.Session()
    if session.region_name is not None:
        return session
    region = os.environ.get("AWS_REGION", region_of(queue_url) if queue_url else None)
    if region is None:
        raise ValueError("no AWS region: set AWS_DEFAULT_REGION (or use an AWS queue URL)")
    return boto3.Session(region_name=region)
