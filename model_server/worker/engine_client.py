"""The engine beside the worker, over HTTP: readiness, chat completions, queue size.

Works with TGI and vLLM alike: both serve OpenAI-style ``/v1/chat/completions``; their
differences (port, paths, metric names) come from ``model_server.engines``.

Engine errors are sorted once, here:
- permanent (the request's fault: 400, 413, 422) -> a ``failed`` result, no retry;
- transient (everything else: 429 overloaded, 5xx, timeouts, refused connections, and
  404 which means a misconfigured model name) -> retried, then the message is released.
  Retrying what is not known to be the request's fault keeps the request: if it keeps
  failing it lands in the dead-letter queue, from where it can be redriven once fixed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from model_server.engines import Engine
from model_server.messages import ErrorKind

PERMANENT_STATUSES = frozenset({400, 413, 422})
"""The engines answer these for requests that can never succeed (validation, length)."""

PROBE_TIMEOUT_SECONDS = 2.0
"""Readiness and metrics are local and cheap: an engine slower than this is not ready."""

_TOO_LONG_HINTS = (
    "maximum context length",  # vLLM
    "prompt is too long",
    "input validation error: `inputs` tokens",  # TGI: inputs + max_new_tokens over limit
    "max_input_tokens",
    "must have less than",  # TGI: "`inputs` must have less than N tokens"
)


class TransientEngineError(Exception):
    """Worth retrying: the engine was overloaded, unavailable or too slow."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PermanentEngineError(Exception):
    """The engine rejected the request itself: retrying cannot help."""

    def __init__(self, kind: ErrorKind, message: str, status: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


class ServingEngine(Protocol):
    """What the worker asks of whatever answers its requests: the engine beside it over
    HTTP (``EngineClient``) or a SageMaker endpoint (``sagemaker.SageMakerEngine``)."""

    async def is_ready(self) -> bool: ...

    async def chat_completion(self, body: dict[str, Any], request_id: str, on_retry: Any = None) -> dict[str, Any]:
        """One ``chat.completion`` document; raises ``TransientEngineError`` or
        ``PermanentEngineError`` after its own retries."""
        ...

    async def queue_size(self) -> float | None:
        """Requests waiting inside the engine; None where it cannot be known."""
        ...

    def in_flight_limit(self) -> int | None:
        """Requests the engine can take now, as last seen; None: a fixed capacity
        (the worker's WORKER_MAX_IN_FLIGHT alone)."""
        ...

    def instances(self) -> int | None:
        """Instances serving behind the engine, as last seen (a SageMaker endpoint's); None
        for the one engine beside the worker."""
        ...

    async def aclose(self) -> None: ...


_T = TypeVar("_T")


async def with_retries(
    call: Callable[[], Awaitable[_T]], *, attempts: int, max_wait_seconds: float, on_retry: Any = None
) -> _T:
    """``call()``, retried on ``TransientEngineError`` with jittered exponential waits."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientEngineError),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.5, max=max_wait_seconds),
        before_sleep=on_retry,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity reraises the last error")


class EngineClient:
    def __init__(
        self,
        base_url: str,
        engine: Engine,
        *,
        timeout_seconds: float,
        max_connections: int,
        retry_attempts: int,
        retry_max_wait_seconds: float,
    ) -> None:
        self._engine = engine
        self._retry_attempts = retry_attempts
        self._retry_max_wait = retry_max_wait_seconds
        self._http = httpx.AsyncClient(
            base_url=base_url,
            # Connecting to localhost is instant or refused; reading is the generation.
            timeout=httpx.Timeout(timeout_seconds, connect=5.0),
            limits=httpx.Limits(max_connections=max_connections + 4),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def is_ready(self) -> bool:
        try:
            response = await self._http.get(self._engine.readiness_path, timeout=PROBE_TIMEOUT_SECONDS)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def chat_completion(self, body: dict[str, Any], request_id: str, on_retry: Any = None) -> dict[str, Any]:
        """The engine's response to ``body``, retrying transient errors with jitter."""
        return await with_retries(
            lambda: self._post_once(body, request_id),
            attempts=self._retry_attempts,
            max_wait_seconds=self._retry_max_wait,
            on_retry=on_retry,
        )

    def in_flight_limit(self) -> int | None:
        return None  # one engine of fixed size: WORKER_MAX_IN_FLIGHT is its share

    def instances(self) -> int | None:
        return None

    async def _post_once(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        try:
            response = await self._http.post(
                self._engine.chat_completions_path,
                json=body,
                # vLLM and TGI log it: engine logs and worker logs share the request id.
                headers={"X-Request-Id": request_id},
            )
        except httpx.TimeoutException as exc:
            raise TransientEngineError(f"engine timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransientEngineError(f"engine unreachable: {exc!r}") from exc
        if response.status_code == 200:
            return _json_object(response)
        message = _error_message(response)
        if response.status_code in PERMANENT_STATUSES:
            raise PermanentEngineError(error_kind(message), message, response.status_code)
        raise TransientEngineError(f"engine answered {response.status_code}: {message}", response.status_code)

    async def queue_size(self) -> float | None:
        """Requests waiting inside the engine, from its Prometheus metrics (None if absent)."""
        try:
            response = await self._http.get(self._engine.metrics_path, timeout=PROBE_TIMEOUT_SECONDS)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        return prometheus_value(response.text, self._engine.queue_size_metric)


def prometheus_value(exposition: str, name: str) -> float | None:
    """Sum of a metric's samples across its label sets in Prometheus text format."""
    total: float | None = None
    for line in exposition.splitlines():
        if not line.startswith(name):
            continue
        rest = line[len(name) :]
        if rest[:1] not in ("{", " "):
            continue  # a longer name sharing the prefix, e.g. tgi_queue_size_bucket
        value = rest.rsplit("}", 1)[-1].split()
        try:
            total = (total or 0.0) + float(value[0])
        except (IndexError, ValueError):
            continue
    return total


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except json.JSONDecodeError as exc:
        raise TransientEngineError("engine answered 200 with a body that is not JSON") from exc
    if not isinstance(document, dict):
        raise TransientEngineError("engine answered 200 with JSON that is not an object")
    return document


def _error_message(response: httpx.Response) -> str:
    return error_text(response.text, response.reason_phrase)


def error_text(body: str, fallback: str = "") -> str:
    """An engine's error text from its error body: TGI says {"error": "..."}, vLLM
    {"error": {"message"}} or {"message": ...}; else the raw body (or ``fallback``)."""
    try:
        document = json.loads(body)
    except json.JSONDecodeError:
        return body[:2000] or fallback
    if isinstance(document, dict):
        error = document.get("error", document.get("message"))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:2000]
    return str(document)[:2000]


def error_kind(message: str) -> ErrorKind:
    """``prompt_too_long`` when the engine's message says so, else ``invalid_request``."""
    lowered = message.lower()
    if any(hint in lowered for hint in _TOO_LONG_HINTS):
        return ErrorKind.PROMPT_TOO_LONG
    return ErrorKind.INVALID_REQUEST
