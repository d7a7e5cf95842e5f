"""Calling a model on a SageMaker real-time endpoint with an OpenAI chat body: shared by
the client (``InvokeEndpoint``) and the queue worker (``InvokeEndpointWithResponseStream``).

boto3 and the standard library only, like the client. Both of AWS's containers the stack
deploys take OpenAI chat bodies on SageMaker's ``/invocations`` route: TGI's router since
TGI 2.4, and AWS's vLLM container; with ``"stream": true`` they answer server-sent events,
one ``chat.completion.chunk`` per ``data:`` line, which SageMaker forwards as the bytes of
``PayloadPart`` events, split wherever it likes. ``ChatStream`` puts the chunks back
together into one ``chat.completion`` document of the shape the engines' HTTP route
returns. Facts and sources: docs/reference.md#sagemaker-runtime.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable
from typing import Any

MAX_BODY_BYTES = 6_291_456
"""InvokeEndpoint's and InvokeEndpointWithResponseStream's largest request body (6 MB)."""
CONTAINER_DEADLINE_SECONDS = 60
"""InvokeEndpoint: the container must answer within 60 s, else ModelError."""
INVOKE_READ_TIMEOUT_SECONDS = 70
"""Socket timeout for InvokeEndpoint: AWS advises 70 s for a model that may take 50-60 s."""
CONTENT_TYPE = "application/json"

_DONE = "[DONE]"


class IncompleteStream(Exception):
    """The stream ended (or failed inside the container) before the generation finished."""


def invoke(runtime: Any, endpoint_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """InvokeEndpoint with a (non-streaming) chat body: the container's chat.completion.
    botocore errors propagate unchanged."""
    response = runtime.invoke_endpoint(
        EndpointName=endpoint_name,
        Body=_encoded(body),
        ContentType=CONTENT_TYPE,
        Accept=CONTENT_TYPE,
    )
    document = json.loads(response["Body"].read())
    if not isinstance(document, dict):
        raise ValueError("the endpoint answered JSON that is not an object")
    return document


class StreamHandle:
    """Lets another thread stop a streaming call: closing the response stream ends the
    HTTP connection, so SageMaker (and the container) see the client go away."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream: Any = None
        self.cancelled = False

    def attach(self, stream: Any) -> None:
        with self._lock:
            self._stream = stream
            cancelled = self.cancelled
        if cancelled:
            stream.close()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            stream = self._stream
        if stream is not None:
            # Closing a stream another thread reads may raise: it is closed all the same.
            with contextlib.suppress(Exception):
                stream.close()


def stream_chat(
    runtime: Any, endpoint_name: str, body: dict[str, Any], handle: StreamHandle | None = None
) -> dict[str, Any]:
    """InvokeEndpointWithResponseStream with ``body`` made a streaming request; the chunks
    assembled into one chat.completion. Raises botocore's errors (an error event inside
    the stream is botocore's ``EventStreamError``) and ``IncompleteStream``."""
    streaming = {**body, "stream": True, "stream_options": {"include_usage": True}}
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint_name,
        Body=_encoded(streaming),
        ContentType=CONTENT_TYPE,
        Accept="text/event-stream",
    )
    events = response["Body"]
    if handle is not None:
        handle.attach(events)
    assembler = ChatStream()
    for event in events:
        if handle is not None and handle.cancelled:
            raise IncompleteStream("cancelled")
        part = event.get("PayloadPart")
        if part is not None:
            assembler.feed(part.get("Bytes", b""))
    return assembler.result()


def _encoded(body: dict[str, Any]) -> bytes:
    encoded = json.dumps(body).encode()
    if len(encoded) > MAX_BODY_BYTES:
        raise ValueError(f"the request body is {len(encoded)} bytes, over SageMaker's {MAX_BODY_BYTES}")
    return encoded


class ChatStream:
    """Server-sent events of OpenAI ``chat.completion.chunk`` documents, fed as bytes in
    pieces of any size, assembled into one ``chat.completion``."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._chunks = 0
        self._whole: dict[str, Any] | None = None
        self.done = False
        self._document: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}

    def feed(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._line(line.decode().rstrip("\r"))

    def result(self) -> dict[str, Any]:
        if self._buffer.strip():
            self._line(self._buffer.decode().rstrip("\r"))
            self._buffer = b""
        self._dispatch()
        if self._whole is not None:
            return self._whole
        if not self._chunks:
            raise IncompleteStream("the stream carried no chat completion chunk")
        finished = self._choices and all(c.get("finish_reason") is not None for c in self._choices.values())
        if not (self.done or finished):
            raise IncompleteStream("the stream ended before the generation finished")
        document = {**self._document, "object": "chat.completion"}
        document["choices"] = [self._choices[index] for index in sorted(self._choices)]
        return document

    def _line(self, line: str) -> None:
        if not line:
            self._dispatch()  # a blank line ends an event
        elif line.startswith("data:"):
            self._data.append(line[5:].removeprefix(" "))
        elif line.startswith("{"):
            self._data.append(line)  # JSON lines without SSE framing
            self._dispatch()
        # "event:", "id:", "retry:" and ":" comments carry nothing the result needs.

    def _dispatch(self) -> None:
        if not self._data:
            return
        data, self._data = "\n".join(self._data), []
        if data.strip() == _DONE:
            self.done = True
            return
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as exc:
            raise IncompleteStream(f"a stream event is not JSON: {data[:200]!r}") from exc
        if not isinstance(chunk, dict):
            raise IncompleteStream(f"a stream event is not a JSON object: {data[:200]!r}")
        if "error" in chunk and "choices" not in chunk:
            # TGI reports a failure during generation as an event: {"error": ..., "error_type": ...}
            raise IncompleteStream(f"the engine failed during generation: {chunk['error']}")
        if any("message" in choice for choice in chunk.get("choices") or []):
            self._whole = chunk  # a container that ignored "stream" and answered one document
            return
        self._chunk(chunk)

    def _chunk(self, chunk: dict[str, Any]) -> None:
        self._chunks += 1
        for key in ("id", "created", "model", "system_fingerprint"):
            if chunk.get(key) is not None:
                self._document.setdefault(key, chunk[key])
        if chunk.get("usage"):
            self._document["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or []:
            self._choice(choice)

    def _choice(self, choice: dict[str, Any]) -> None:
        index = int(choice.get("index", 0))
        merged = self._choices.setdefault(
            index, {"index": index, "message": {"role": "assistant", "content": ""}, "finish_reason": None}
        )
        message = merged["message"]
        delta = choice.get("delta") or {}
        if delta.get("role"):
            message["role"] = delta["role"]
        if delta.get("content"):
            message["content"] += delta["content"]
        for call in delta.get("tool_calls") or []:
            _merge_tool_call(message.setdefault("tool_calls", []), call)
        if choice.get("finish_reason") is not None:
            merged["finish_reason"] = choice["finish_reason"]


def _merge_tool_call(calls: list[dict[str, Any]], delta: dict[str, Any]) -> None:
    """Tool call deltas: the first names the call, the next ones add to its arguments."""
    index = int(delta.get("index", len(calls)))
    while len(calls) <= index:
        calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
    call = calls[index]
    for key in ("id", "type"):
        if delta.get(key):
            call[key] = delta[key]
    function = delta.get("function") or {}
    if function.get("name"):
        call["function"]["name"] += function["name"]
    if function.get("arguments"):
        arguments = function["arguments"]
        call["function"]["arguments"] += arguments if isinstance(arguments, str) else json.dumps(arguments)


def assemble(parts: Iterable[bytes]) -> dict[str, Any]:
    """The chat.completion carried by a stream's payload parts (tests and tools)."""
    stream = ChatStream()
    for part in parts:
        stream.feed(part)
    return stream.result()
