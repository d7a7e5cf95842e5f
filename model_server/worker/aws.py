"""The worker's AWS calls: the request queue, the results bucket, lifecycle actions.

All through boto3 with botocore's ``standard`` retry mode (retries throttling and
transient errors with jittered backoff), so ``AWS_ENDPOINT_URL`` (or a per-service
``AWS_ENDPOINT_URL_<SERVICE>``) points the worker at a local emulator. These calls block:
the worker runs them in threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_LOST_RECEIPT_CODES = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "InvalidReceiptHandle",
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
    }
)
"""SQS's answers when a receipt no longer owns its message: it was deleted (by another
worker that finished a redelivery, or a purge), or its visibility ran out."""


def client_config(*, read_timeout_seconds: float, pool_size: int) -> Config:
    return Config(
        retries={"mode": "standard"},
        connect_timeout=5,
        read_timeout=read_timeout_seconds,
        max_pool_connections=pool_size,
    )


def _error_code(error: ClientError) -> str:
    details: dict[str, Any] = error.response.get("Error", {})
    return str(details.get("QueryErrorCode") or details.get("Code", ""))


def _is_lost_receipt(error: ClientError) -> bool:
    code = _error_code(error)
    if code in _LOST_RECEIPT_CODES:
        return True
    # An expired receipt handle comes back as a generic parameter error naming it.
    message = str(error.response.get("Error", {}).get("Message", ""))
    return code == "InvalidParameterValue" and "receipt" in message.lower()


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str
    sent_at: datetime
    receive_count: int


class RequestQueue:
    def __init__(self, session: boto3.Session, url: str, config: Config) -> None:
        self._sqs = session.client("sqs", config=config)
        self._url = url

    def receive(self, max_messages: int, wait_seconds: int, visibility_seconds: int) -> list[Message]:
        response = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_seconds,
            MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
        )
        return [_message(raw) for raw in response.get("Messages", [])]

    def change_visibility(self, message: Message, seconds: int) -> bool:
        """Set the message's remaining visibility; False if the receipt no longer owns it."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds
            )
        except ClientError as exc:
            if _is_lost_receipt(exc):
                return False
            raise
        return True

    def delete(self, message: Message) -> bool:
        """Delete the message; False if the receipt no longer owns it."""
        try:
            self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message.receipt_handle)
        except ClientError as exc:
            if _is_lost_receipt(exc):
                return False
            raise
        return True


def _message(raw: dict[str, Any]) -> Message:
    attributes = raw.get("Attributes", {})
    sent_ms = int(attributes.get("SentTimestamp", "0"))
    return Message(
        message_id=raw["MessageId"],
        receipt_handle=raw["ReceiptHandle"],
        body=raw["Body"],
        sent_at=datetime.fromtimestamp(sent_ms / 1000, UTC),
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
    )


class ResultStore:
    def __init__(self, session: boto3.Session, bucket: str, config: Config) -> None:
        self._s3 = session.client("s3", config=config)
        self._bucket = bucket

    def exists(self, key: str) -> bool | None:
        """Whether ``key`` exists; None when S3 will not say. Without s3:ListBucket, S3
        answers 403 rather than 404 for a missing key (HeadObject's documentation)."""
        try:
            self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            if code in ("403", "AccessDenied", "Forbidden"):
                return None
            raise
        return True

    def put_new(self, key: str, body: bytes) -> bool:
        """Write ``key`` only if it does not exist yet; False if it already did.

        ``If-None-Match: *`` makes S3 itself refuse a second write, so two deliveries of
        one id racing on two instances still leave exactly one result.
        """
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _error_code(exc) in ("PreconditionFailed", "412"):
                return False
            raise
        return True


@dataclass(frozen=True)
class LifecycleAction:
    group_name: str
    hook_name: str
    instance_id: str


class AutoScaling:
    """Built on first use: only a scale-in needs it, and a client costs ~50 ms to build."""

    def __init__(self, session: boto3.Session, config: Config) -> None:
        self._session = session
        self._config = config
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def _autoscaling(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._session.client("autoscaling", config=self._config)
            return self._client

    def heartbeat(self, action: LifecycleAction) -> None:
        self._autoscaling.record_lifecycle_action_heartbeat(
            AutoScalingGroupName=action.group_name,
            LifecycleHookName=action.hook_name,
            InstanceId=action.instance_id,
        )

    def complete(self, action: LifecycleAction) -> None:
        self._autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=action.group_name,
            LifecycleHookName=action.hook_name,
            InstanceId=action.instance_id,
            LifecycleActionResult="CONTINUE",
        )
