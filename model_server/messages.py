"""The asynchronous path's messages: a request on a model's queue, a result in the bucket.

Shared by the worker (which reads requests and writes results) and the client (which
sends requests and reads results). Pydantic only, so the client stays light.

A request is the SQS message body::

    {"id": "7f9c2b1e", "model": "chat",
     "request": {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 64}}

Its result is one JSON document at ``results/<model>/<id>.json`` (``result_key``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RESULTS_PREFIX = "results"
"""Top-level prefix of every result key; the worker's IAM policy is scoped under it."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""A request id is one S3 key segment: no slash (no path tricks), at most 128 characters."""
MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""A model's name in the stack, as it appears in queue names and result keys."""

MAX_MESSAGE_BYTES = 1024 * 1024
"""SQS's payload limit (1 MiB): a larger request cannot be queued."""


def result_key(model: str, request_id: str) -> str:
    """Where the result of ``request_id`` for ``model`` lives in the results bucket."""
    return f"{RESULTS_PREFIX}/{model}/{request_id}.json"


class ChatCompletionBody(BaseModel):
    """An OpenAI-style chat completion body, passed to the engine as it is.

    Only ``messages`` is required; every other field (max_tokens, temperature, stop,
    response_format, ...) is kept and forwarded. ``model`` is overwritten by the worker
    with the stack's model name, which vLLM requires (``--served-model-name``).
    """

    model_config = ConfigDict(extra="allow")

    messages: list[dict[str, Any]] = Field(min_length=1)
    model: str | None = None
    stream: bool = False

    @field_validator("stream")
    @classmethod
    def _no_streaming(cls, stream: bool) -> bool:
        # A queued request has no open connection to stream to: its result is one document.
        if stream:
            raise ValueError(
                "streaming is not supported on the queue path (the result is one "
                "document); omit stream or set it to false"
            )
        return stream


class Request(BaseModel):
    """One queued request (the SQS message body)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    """Chosen by the producer and unique per model: it names the result, and a second
    request with a finished id is treated as a duplicate delivery."""
    model: str = Field(pattern=MODEL_PATTERN)
    """The model's name in the stack; must match the queue's model."""
    request: ChatCompletionBody
    metadata: dict[str, str] = Field(default_factory=dict)
    """The producer's own labels (tenant, batch, ...): copied into the result as they are."""
    submitted_at: datetime | None = None
    """When the producer built the request (the client sets it); informational only."""


class Envelope(BaseModel):
    """The part of a request the worker needs to write a ``failed`` result for it.

    Used when the full request does not validate: if the id and model are readable, the
    producer gets a clear error at the usual key instead of a silent dead letter.
    """

    id: str = Field(pattern=ID_PATTERN)
    model: str = Field(pattern=MODEL_PATTERN)
    metadata: dict[str, str] = Field(default_factory=dict)


class ResultStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ErrorKind(StrEnum):
    """Why a request failed for good. Transient failures never produce a result: the
    message is retried and, if it keeps failing, lands in the dead-letter queue."""

    INVALID_REQUEST = "invalid_request"
    """The request does not validate, or the engine rejected it (HTTP 400/413/422)."""
    PROMPT_TOO_LONG = "prompt_too_long"
    """The engine rejected the request's length (prompt plus max_tokens over its limits)."""
    EXPIRED = "expired"
    """The request waited in the queue longer than the worker's maximum request age."""


class ResultError(BaseModel):
    kind: ErrorKind
    message: str
    """The engine's own error message where there is one: it names the limit exceeded."""
    engine_status: int | None = None
    """The engine's HTTP status, when the engine answered."""


class Timings(BaseModel):
    sent_at: datetime
    """When SQS accepted the message."""
    started_at: datetime
    """When the worker posted the request to the engine (or decided it could not)."""
    finished_at: datetime
    queue_wait_seconds: float
    generation_seconds: float


class Result(BaseModel):
    """The one document a request produces, at ``result_key(model, id)``."""

    id: str
    model: str
    status: ResultStatus
    response: dict[str, Any] | None = None
    """The engine's chat completion response, as it returned it, when ``succeeded``."""
    error: ResultError | None = None
    """What went wrong, when ``failed``."""
    timings: Timings
    receive_count: int = Field(ge=1)
    """SQS deliveries of the message so far: more than 1 means it was retried."""
    instance_id: str
    """The instance (or host) whose worker wrote the result."""
    engine: str
    metadata: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _response_xor_error(self) -> Result:
        if self.status is ResultStatus.SUCCEEDED and (self.response is None or self.error):
            raise ValueError("a succeeded result has a response and no error")
        if self.status is ResultStatus.FAILED and (self.error is None or self.response):
            raise ValueError("a failed result has an error and no response")
        return self
