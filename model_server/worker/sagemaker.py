"""The worker's engine when the model runs on a SageMaker real-time endpoint
(``WORKER_ENGINE=sagemaker``): the same interface as ``EngineClient``, so the service's
at-least-once handling (heartbeats, retries, releases, drains) is the same code.

- Generation: ``InvokeEndpointWithResponseStream``, not ``InvokeEndpoint``: the latter
  fails any generation the container has not finished within 60 s, and the queue exists
  for long generations (up to ``WORKER_ENGINE_TIMEOUT_SECONDS``). The streamed chunks are
  assembled into one ``chat.completion`` (``model_server.sagemaker_runtime``).
- Readiness and capacity: ``DescribeEndpoint`` (the ``sagemaker`` API, not the runtime),
  at most every ``WORKER_ENDPOINT_REFRESH_SECONDS``. The endpoint serves while its status
  is one of ``SERVING_STATUSES``; the worker's in-flight cap is
  ``WORKER_MAX_IN_FLIGHT_PER_INSTANCE`` x the variants' ``CurrentInstanceCount``.
- Errors: the request's fault (the container answered 400, 413 or 422; a body over
  6 MB) is permanent; everything else, including a missing endpoint or a denied call, is
  transient: retried, then released, so no message is lost to a deployment mistake.

botocore's own retries are off for the runtime calls: the worker's retry loop (jittered,
logged, counted) is the only one. Facts and sources: docs/reference.md#sagemaker-runtime,
docs/worker.md#sagemaker-endpoints.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from model_server.messages import ErrorKind
from model_server.sagemaker_runtime import MAX_BODY_BYTES, IncompleteStream, StreamHandle, stream_chat
from model_server.worker import logs
from model_server.worker.aws import client_config
from model_server.worker.engine_client import (
    PERMANENT_STATUSES,
    PermanentEngineError,
    TransientEngineError,
    error_kind,
    error_text,
    with_retries,
)

IAM_ACTIONS = (
    "sagemaker:InvokeEndpoint",
    "sagemaker:InvokeEndpointWithResponseStream",
    "sagemaker:DescribeEndpoint",
)
"""What the worker's task role needs on the endpoint's ARN
(``arn:<partition>:sagemaker:<region>:<account>:endpoint/<name in lower case>``), besides
its queue and bucket permissions. The streaming call's API reference asks for
``sagemaker:InvokeEndpoint``; the Service Authorization Reference also lists
``sagemaker:InvokeEndpointWithResponseStream``: both are granted."""

SERVING_STATUSES = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"})
"""Endpoint statuses in which it answers invocations: during an update, maintenance or a
rollback the current configuration keeps serving. Creating, OutOfService, Deleting and
Failed do not: the worker takes no work then."""

_VALIDATION_CODES = frozenset({"ValidationError", "ValidationException"})
_TOO_LARGE_HINTS = (str(MAX_BODY_BYTES), "too large", "payload size")
DESCRIBE_TIMEOUT_SECONDS = 10
"""DescribeEndpoint answers in milliseconds; a slower answer is retried at the next refresh."""


@dataclass(frozen=True)
class EndpointState:
    status: str | None
    """EndpointStatus; None when DescribeEndpoint failed (missing endpoint, no permission)."""
    instances: int
    """Sum of the production variants' CurrentInstanceCount."""
    seen_at: float
    problem: str | None = None

    @property
    def serving(self) -> bool:
        return self.status in SERVING_STATUSES


class SageMakerEngine:
    def __init__(
        self,
        session: boto3.Session,
        endpoint_name: str,
        *,
        timeout_seconds: float,
        max_in_flight: int,
        max_in_flight_per_instance: int,
        retry_attempts: int,
        retry_max_wait_seconds: float,
        refresh_seconds: float,
    ) -> None:
        self.endpoint_name = endpoint_name
        self._timeout = timeout_seconds
        self._per_instance = max_in_flight_per_instance
        self._retry_attempts = retry_attempts
        self._retry_max_wait = retry_max_wait_seconds
        self._refresh = refresh_seconds
        runtime_config = Config(
            # One attempt per call: the retry loop above botocore's is the worker's own.
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=5,
            # Between two stream events; the whole generation is bounded by timeout_seconds.
            read_timeout=timeout_seconds,
            max_pool_connections=max_in_flight + 2,
        )
        self._runtime = session.client("sagemaker-runtime", config=runtime_config)
        self._control = session.client(
            "sagemaker", config=client_config(read_timeout_seconds=DESCRIBE_TIMEOUT_SECONDS, pool_size=2)
        )
        # The streaming calls block a thread each for a whole generation: their own pool,
        # so they never starve the queue's and the bucket's calls.
        self._invokers = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="sagemaker")
        self._state: EndpointState | None = None

    async def aclose(self) -> None:
        self._invokers.shutdown(wait=False, cancel_futures=True)

    # --- Readiness and capacity ------------------------------------------------------------

    async def is_ready(self) -> bool:
        state = self._state
        if state is None or time.monotonic() - state.seen_at >= self._refresh:
            state = await asyncio.get_running_loop().run_in_executor(None, self._describe)
            self._remember(state)
        return state.serving

    def in_flight_limit(self) -> int | None:
        state = self._state
        if state is None or not state.serving:
            return self._per_instance
        # While an update replaces instances the count can read 0: the endpoint still serves.
        return self._per_instance * max(1, state.instances)

    def instances(self) -> int | None:
        """The variants' instances as last described: published as EndpointInstances, which
        the endpoint's backlog scaling and too-few-instances alarm read (SageMaker publishes
        no instance count)."""
        state = self._state
        return state.instances if state is not None else None

    async def queue_size(self) -> float | None:
        return None  # the endpoint's engines are not reachable from here: no Prometheus scrape

    def _describe(self) -> EndpointState:
        now = time.monotonic()
        try:
            described = self._control.describe_endpoint(EndpointName=self.endpoint_name)
        except (BotoCoreError, ClientError) as exc:
            return EndpointState(None, 0, now, problem=str(exc))
        variants = described.get("ProductionVariants") or []
        instances = sum(int(v.get("CurrentInstanceCount") or 0) for v in variants)
        return EndpointState(described.get("EndpointStatus"), instances, now)

    def _remember(self, state: EndpointState) -> None:
        previous, self._state = self._state, state
        if previous is not None and (previous.status, previous.instances, previous.problem) == (
            state.status,
            state.instances,
            state.problem,
        ):
            return
        if state.status is None:
            logs.warning(
                "endpoint_unknown",
                endpoint=self.endpoint_name,
                error=state.problem,
                detail="DescribeEndpoint failed: the endpoint is missing or sagemaker:DescribeEndpoint "
                "is not granted; taking no work until it answers",
            )
            return
        logs.event(
            "endpoint_status",
            endpoint=self.endpoint_name,
            status=state.status,
            instances=state.instances,
            in_flight_limit=self.in_flight_limit(),
        )

    # --- Generation ---------------------------------------------------------------------------

    async def chat_completion(self, body: dict[str, Any], request_id: str, on_retry: Any = None) -> dict[str, Any]:
        """The endpoint's chat.completion for ``body``, retrying transient errors with jitter."""
        return await with_retries(
            lambda: self._invoke_once(body, request_id),
            attempts=self._retry_attempts,
            max_wait_seconds=self._retry_max_wait,
            on_retry=on_retry,
        )

    async def _invoke_once(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        handle = StreamHandle()
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._invokers, stream_chat, self._runtime, self.endpoint_name, body, handle)
        try:
            return await asyncio.wait_for(call, self._timeout)
        except TimeoutError as exc:
            handle.cancel()
            raise TransientEngineError(f"endpoint timed out after {self._timeout:g} s") from exc
        except asyncio.CancelledError:
            handle.cancel()  # drained or lost: hang up, so the endpoint stops generating
            raise
        except Exception as exc:
            error = engine_error(exc)
            if error is None:
                raise
            if _endpoint_missing(exc):
                self._state = None  # look again before taking more work
            raise error from exc


def engine_error(exc: BaseException) -> TransientEngineError | PermanentEngineError | None:
    """A SageMaker runtime failure sorted as the HTTP engine's are; None for anything else
    (a bug, which the worker handles as an unexpected error)."""
    if isinstance(exc, IncompleteStream):
        return TransientEngineError(f"endpoint stream incomplete: {exc}")
    if isinstance(exc, ValueError) and str(MAX_BODY_BYTES) in str(exc):
        return PermanentEngineError(ErrorKind.INVALID_REQUEST, str(exc), 413)
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, BotoCoreError):  # timeouts, refused or reset connections
        return TransientEngineError(f"endpoint unreachable or too slow: {exc}")
    return None


def _client_error(exc: ClientError) -> TransientEngineError | PermanentEngineError:
    response: dict[str, Any] = dict(exc.response)
    details: dict[str, Any] = response.get("Error", {})
    code = str(details.get("Code", ""))
    message = str(details.get("Message", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "ModelError":
        # The container's own answer: its status and body, as the HTTP engine path sees them.
        original = _int_or_none(response.get("OriginalStatusCode"))
        text = error_text(str(response.get("OriginalMessage") or ""), message)
        if original in PERMANENT_STATUSES:
            return PermanentEngineError(error_kind(text), text, original)
        return TransientEngineError(f"model answered {original}: {text}", original)
    if code in _VALIDATION_CODES and any(hint in message.lower() for hint in _TOO_LARGE_HINTS):
        return PermanentEngineError(ErrorKind.INVALID_REQUEST, message, int(status or 400))
    # Throttling, ServiceUnavailable, InternalFailure, ModelNotReadyException, a stream's
    # ModelStreamError or InternalStreamFailure, and every deployment fault (a missing
    # endpoint, a denied call): retried, then released, never answered as failed.
    return TransientEngineError(f"SageMaker answered {code or status}: {message}", status)


def _endpoint_missing(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    details = exc.response.get("Error", {})
    message = str(details.get("Message", "")).lower()
    return details.get("Code") in _VALIDATION_CODES and "endpoint" in message and "not found" in message


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
