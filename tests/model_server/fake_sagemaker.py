"""A SageMaker endpoint on loopback, speaking the wire protocols boto3 uses, so the code
under test runs its real botocore calls (signing, parsing, event-stream decoding):

- runtime (restJson): ``POST /endpoints/{name}/invocations`` answers one JSON document;
  ``POST /endpoints/{name}/invocations-response-stream`` answers
  ``application/vnd.amazon.eventstream`` frames: ``PayloadPart`` events carrying the
  container's server-sent events (TGI's and vLLM's chat chunks), cut at arbitrary bytes,
  or an exception event (``ModelStreamError``) mid-stream. Errors before the stream are
  HTTP errors with ``x-amzn-ErrorType`` (ModelError carries OriginalStatusCode and
  OriginalMessage, as SageMaker's do).
- control plane (awsJson1_1): ``POST /`` with ``X-Amz-Target: SageMaker.DescribeEndpoint``.

Point a client at it with ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` and
``AWS_ENDPOINT_URL_SAGEMAKER``. Event-stream framing: prelude (total length, headers
length, CRC32), headers (name, type 7 = string, value), payload, message CRC32, as in
AWS's event stream encoding (botocore/eventstream.py decodes it).
"""

from __future__ import annotations

import binascii
import json
import struct
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fakes import _Handler, _Running

ACCOUNT = "123456789012"
PART_BYTES = 7
"""Payload parts are cut every 7 bytes: lines and JSON documents always span parts."""


@dataclass(frozen=True)
class Reply:
    """One scripted answer to an invocation."""

    status: int = 200
    code: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    stream_error: str | None = None
    """Answer 200, send part of the stream, then this ModelStreamError code."""
    events: list[dict[str, Any]] | None = None
    """Chat chunks to stream instead of the echo (e.g. a TGI error event)."""


def throttling() -> Reply:
    return Reply(400, "ThrottlingException", {"message": "Rate exceeded"})


def model_error(original_status: int, original_message: str) -> Reply:
    """The container answered ``original_status``: SageMaker says 424 ModelError."""
    return Reply(
        424,
        "ModelError",
        {
            "Message": f'Received client error ({original_status}) from primary with message "{original_message}".',
            "OriginalStatusCode": original_status,
            "OriginalMessage": original_message,
            "LogStreamArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/chat",
        },
    )


def invocation_timeout() -> Reply:
    """The container did not answer within SageMaker's 60 s."""
    message = (
        "Your invocation timed out while waiting for a response from container primary. Review the latency "
        "metrics for each container in Amazon CloudWatch, resolve the issue, and try again."
    )
    return Reply(
        424,
        "ModelError",
        {"Message": f'Received server error (0) from primary with message "{message}".', "OriginalStatusCode": 0},
    )


def stream_timeout() -> Reply:
    return Reply(stream_error="ModelInvocationTimeExceeded")


def service_error(code: str, status: int) -> Reply:
    return Reply(status, code, {"message": f"{code} (fake)"})


@dataclass
class Invocation:
    operation: str
    """InvokeEndpoint or InvokeEndpointWithResponseStream."""
    endpoint: str
    body: dict[str, Any]
    arrived: float
    headers: dict[str, str]
    status: int | None = None
    finished: float | None = None
    disconnected: bool = False


ENDPOINT = "chat-endpoint"
"""The endpoint the tests' fake serves by default."""


class FakeSageMaker(_Running):
    def __init__(self, endpoint_name: str = ENDPOINT, *, instances: int = 1, latency: float = 0.0) -> None:
        self.endpoint_name = endpoint_name
        self.status: str | None = "InService"
        """EndpointStatus; None: DescribeEndpoint says the endpoint does not exist."""
        self.instances = instances
        self.latency = latency
        self.script: deque[Reply] = deque()
        self.by_prompt: dict[str, deque[Reply]] = {}
        self.always_for: dict[str, Reply] = {}
        self.calls: list[Invocation] = []
        self.describes = 0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        super().__init__(_SageMakerHandler)

    def fail_next(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def fail_prompt(self, prompt: str, *replies: Reply) -> None:
        """The first answers to requests whose last message is ``prompt``."""
        self.by_prompt.setdefault(prompt, deque()).extend(replies)

    def completed(self) -> list[Invocation]:
        with self._lock:
            return [c for c in self.calls if c.status == 200 and not c.disconnected]

    def calls_for(self, prompt: str) -> list[Invocation]:
        with self._lock:
            return [c for c in self.calls if _prompt(c.body) == prompt]

    def reset_max_active(self) -> None:
        with self._lock:
            self.max_active = self.active

    def _next_reply(self, body: dict[str, Any]) -> Reply | None:
        prompt = _prompt(body)
        with self._lock:
            queued = self.by_prompt.get(prompt)
            if queued:
                return queued.popleft()
            if prompt in self.always_for:
                return self.always_for[prompt]
            if self.script:
                return self.script.popleft()
        return None

    def _enter(self, delta: int) -> None:
        with self._lock:
            self.active += delta
            self.max_active = max(self.max_active, self.active)


def _prompt(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    return str(messages[-1].get("content", ""))


def echo_chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What TGI streams for ``body``: a role chunk, content chunks, a last chunk with the
    finish reason and (with stream_options.include_usage) the usage."""
    prompt = _prompt(body)
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1795262400, "model": body.get("model")}
    pieces = ["echo", ": ", prompt]
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
    last: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        last["usage"] = {"prompt_tokens": len(prompt.split()), "completion_tokens": 3, "total_tokens": 3}
    return [*chunks, last]


def echo_completion(body: dict[str, Any]) -> dict[str, Any]:
    prompt = _prompt(body)
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1795262400,
        "model": body.get("model"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": f"echo: {prompt}"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 3, "total_tokens": 3},
    }


def sse(chunks: list[dict[str, Any]], done: bool = True) -> bytes:
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value.encode())) + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


def payload_part(data: bytes) -> bytes:
    headers = {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"}
    return frame(headers, data)


def stream_exception(code: str, error_code: str, message: str) -> bytes:
    headers = {":exception-type": code, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"Message": message, "ErrorCode": error_code}).encode())


class _SageMakerHandler(_Handler):
    @property
    def fake(self) -> FakeSageMaker:
        return self.server.fake  # type: ignore[attr-defined, no-any-return]

    def do_POST(self) -> None:
        raw = self._body()
        target = self.headers.get("X-Amz-Target", "")
        if self.path == "/" and target:
            self._control(target, raw)
            return
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "endpoints":
            self._reply(404, b"{}")
            return
        endpoint, route = parts[1], parts[2]
        operation = {"invocations": "InvokeEndpoint", "invocations-response-stream": "InvokeEndpointWithResponseStream"}
        if route not in operation:
            self._reply(404, b"{}")
            return
        call = Invocation(operation[route], endpoint, json.loads(raw or b"{}"), time.time(), dict(self.headers))
        fake = self.fake
        with fake._lock:
            fake.calls.append(call)
        if endpoint != fake.endpoint_name or fake.status is None:
            message = f"Endpoint {endpoint} of account {ACCOUNT} not found."
            self._error(call, Reply(400, "ValidationError", {"message": message}))
            return
        reply = fake._next_reply(call.body)
        if reply is not None and reply.status != 200:
            self._error(call, reply)
            return
        fake._enter(+1)
        try:
            if call.operation == "InvokeEndpointWithResponseStream":
                self._stream(call, reply, fake.latency)
            elif self._generate(fake.latency):
                call.status = 200
                self._reply(200, json.dumps(echo_completion(call.body)).encode())
            else:
                call.disconnected = True
        finally:
            fake._enter(-1)
            call.finished = time.time()

    def _error(self, call: Invocation, reply: Reply) -> None:
        call.status = reply.status
        call.finished = time.time()
        self._reply(reply.status, json.dumps(reply.body).encode(), "application/json", {"x-amzn-ErrorType": reply.code})

    def _stream(self, call: Invocation, reply: Reply | None, latency: float) -> None:
        """Headers at once (as SageMaker sends them when the container starts streaming),
        then the frames spread over ``latency``."""
        chunks = reply.events if reply is not None and reply.events is not None else echo_chunks(call.body)
        failing = reply is not None and reply.stream_error is not None
        data = sse(chunks[:2] if failing else chunks, done=not failing)
        frames = [payload_part(data[i : i + PART_BYTES]) for i in range(0, len(data), PART_BYTES)]
        if failing and reply is not None and reply.stream_error is not None:
            message = "Your model primary did not complete sending the inference response in the allotted time."
            frames.append(stream_exception("ModelStreamError", reply.stream_error, message))
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("x-amzn-SageMaker-Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for piece in frames:
                if not self._generate(latency / len(frames)):
                    raise ConnectionResetError
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            call.disconnected = True
            self.close_connection = True
            return
        call.status = 200

    def _control(self, target: str, raw: bytes) -> None:
        fake = self.fake
        action = target.rsplit(".", 1)[-1]
        params = json.loads(raw or b"{}")
        if action != "DescribeEndpoint":
            self._reply(400, json.dumps({"__type": "UnknownOperationException"}).encode(), "application/x-amz-json-1.1")
            return
        with fake._lock:
            fake.describes += 1
        name = params.get("EndpointName")
        if name != fake.endpoint_name or fake.status is None:
            body = {"__type": "ValidationException", "message": f'Could not find endpoint "{name}".'}
            self._reply(400, json.dumps(body).encode(), "application/x-amz-json-1.1")
            return
        now = time.time()
        described = {
            "EndpointName": name,
            "EndpointArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{name.lower()}",
            "EndpointConfigName": f"{name}-config",
            "EndpointStatus": fake.status,
            "CreationTime": now - 3600,
            "LastModifiedTime": now,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "CurrentWeight": 1.0,
                    "DesiredWeight": 1.0,
                    "CurrentInstanceCount": fake.instances,
                    "DesiredInstanceCount": fake.instances,
                }
            ],
        }
        self._reply(
            200, json.dumps(described).encode(), "application/x-amz-json-1.1", {"x-amzn-RequestId": str(uuid.uuid4())}
        )
