"""Stand-ins for what surrounds the worker, each a real server on loopback.

- ``FakeEngine``: an OpenAI-style engine with a concurrency limit, latency, scripted
  failures (429, 503, 4xx), readiness and Prometheus metrics; it notices a client that
  hangs up mid-generation, as vLLM and TGI do.
- ``FakeImds``: EC2 instance metadata, IMDSv2 only (tokens required, invalidatable).
- ``AutoScalingStub``: answers the two lifecycle calls moto lacks, and records them.
- ``AwsRecorder``: a proxy in front of moto's server that records every call the worker
  makes (service, action, parameters, time), so tests can check what was called, with
  which arguments, in which order.
- ``FakeEmfAgent``: the CloudWatch agent's EMF TCP listener, keeping the documents.

Used by tests/model_server and benchmarks/worker_throughput.py. Loopback only.
"""

from __future__ import annotations

import http.client
import itertools
import json
import select
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

LOOPBACK = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A worker killed mid-request (the chaos test) resets its connections: expected.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real engines and AWS endpoints do

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read the fakes' records, not their access logs

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body()
        length = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(length) if length else b""

    def _chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _generate(self, seconds: float) -> bool:
        """Take ``seconds``, as a generation would; False as soon as the client hangs up."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return False
                except OSError:
                    return False
        return True

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            headers = dict(headers or {})
            # A HEAD reply has no body but tells the length of the one a GET would return.
            self.send_header("Content-Length", headers.pop("Content-Length", str(len(body))))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Running:
    """A server on an ephemeral loopback port, served from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = _Server((LOOPBACK, 0), handler)
        self._server.fake = self  # type: ignore[attr-defined]
        # A short poll makes shutdown() quick: it waits for the loop to notice.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- Engine ------------------------------------------------------------------------------


@dataclass
class EngineCall:
    request_id: str
    body: dict[str, Any]
    arrived: float
    """Wall-clock times, comparable with the worker's log times."""
    status: int | None = None
    finished: float | None = None
    disconnected: bool = False
    """The worker hung up before the answer (cancelled generation)."""
    waited: float = 0.0
    """Seconds spent in the engine's queue, waiting for one of its C slots."""


@dataclass(frozen=True)
class Scripted:
    status: int
    body: dict[str, Any]
    delay: float = 0.0


def tgi_error(status: int, message: str) -> Scripted:
    return Scripted(status, {"error": message, "error_type": "validation"})


def vllm_error(status: int, message: str) -> Scripted:
    return Scripted(status, {"object": "error", "message": message, "code": status})


OVERLOADED = Scripted(429, {"error": "Model is overloaded", "error_type": "overloaded"})
UNAVAILABLE = Scripted(503, {"error": "Service Unavailable", "error_type": "unhealthy"})


class FakeEngine(_Running):
    """Serves at most ``concurrency`` generations at once, each taking ``latency`` seconds;
    more wait in its queue (reported as ``queue_metric``), as TGI and vLLM do."""

    def __init__(
        self,
        *,
        concurrency: int = 64,
        latency: float = 0.0,
        queue_metric: str = "tgi_queue_size",
        served_model: str | None = None,
    ) -> None:
        self.latency = latency
        self.ready = True
        self.queue_metric = queue_metric
        self.reported_queue_size: float | None = None
        """Overrides the real queue length in /metrics (for tests of the scrape)."""
        self.served_model = served_model
        """vLLM mode: a body whose model is not this name gets vLLM's 404."""
        self.script: deque[Scripted] = deque()
        self.always: Scripted | None = None
        self.calls: list[EngineCall] = []
        self.active = 0
        self.max_active = 0
        self.waiting = 0
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        super().__init__(_EngineHandler)

    def fail_next(self, *responses: Scripted) -> None:
        self.script.extend(responses)

    def calls_for(self, request_id: str) -> list[EngineCall]:
        with self._lock:
            return [c for c in self.calls if c.request_id == request_id]

    def completed(self) -> list[EngineCall]:
        with self._lock:
            return [c for c in self.calls if c.status == 200 and not c.disconnected]

    def _next_script(self) -> Scripted | None:
        with self._lock:
            if self.script:
                return self.script.popleft()
        return self.always

    def _record(self, call: EngineCall) -> None:
        with self._lock:
            self.calls.append(call)

    def _enter(self, delta: int) -> None:
        with self._lock:
            self.active += delta
            self.max_active = max(self.max_active, self.active)


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or [{}]
    prompt = str(messages[-1].get("content", ""))
    completion_tokens = int(body.get("max_tokens") or 16)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"echo: {prompt}"},
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": completion_tokens,
            "total_tokens": len(prompt.split()) + completion_tokens,
        },
    }


class _EngineHandler(_Handler):
    @property
    def engine(self) -> FakeEngine:
        return self.server.fake  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200 if self.engine.ready else 503, b"")
        elif self.path == "/metrics":
            engine = self.engine
            size = engine.reported_queue_size
            value = engine.waiting if size is None else size
            labels = '{model_name="chat"}' if ":" in engine.queue_metric else ""
            text = (
                f"# TYPE {engine.queue_metric} gauge\n"
                f"{engine.queue_metric}_created{labels} 1.7e9\n"
                f"{engine.queue_metric}{labels} {value}\n"
            )
            self._reply(200, text.encode(), "text/plain; version=0.0.4")
        else:
            self._reply(404, b"{}")

    def do_POST(self) -> None:
        body = json.loads(self._body() or b"{}")
        engine = self.engine
        if self.path != "/v1/chat/completions":
            self._reply(404, b"{}")
            return
        call = EngineCall(self.headers.get("X-Request-Id", ""), body, time.time())
        engine._record(call)
        answer = self._answer(engine, body, call)
        if answer is not None:
            call.status = answer.status
            call.finished = time.time()
            self._reply(answer.status, json.dumps(answer.body).encode())

    def _answer(self, engine: FakeEngine, body: dict[str, Any], call: EngineCall) -> Scripted | None:
        scripted = engine._next_script()
        if scripted is not None:
            if scripted.delay and not self._generate(scripted.delay):
                call.disconnected = True
                return None
            return scripted
        if engine.served_model is not None and body.get("model") != engine.served_model:
            message = f"The model `{body.get('model')}` does not exist."
            return vllm_error(404, message)
        with engine._lock:
            engine.waiting += 1
        queued = time.time()
        engine._slots.acquire()
        call.waited = time.time() - queued
        with engine._lock:
            engine.waiting -= 1
        engine._enter(+1)
        try:
            if not self._generate(engine.latency):
                call.disconnected = True
                return None
        finally:
            engine._enter(-1)
            engine._slots.release()
        return Scripted(200, _completion(body))


# --- Instance metadata ----------------------------------------------------------------------


class FakeImds(_Running):
    """IMDSv2: PUT a token (TTL header required), then GET with it; 401 otherwise."""

    def __init__(self, instance_id: str = "i-0a1b2c3d4e5f67890", group: str = "llm-chat") -> None:
        self.documents: dict[str, str] = {
            "/latest/meta-data/instance-id": instance_id,
            "/latest/meta-data/tags/instance/aws:autoscaling:groupName": group,
            "/latest/meta-data/autoscaling/target-lifecycle-state": "InService",
        }
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0
        self.rejected_gets = 0
        self._lock = threading.Lock()
        super().__init__(_ImdsHandler)

    def set(self, path: str, value: str | dict[str, Any] | None) -> None:
        with self._lock:
            if value is None:
                self.documents.pop(path, None)
            else:
                self.documents[path] = value if isinstance(value, str) else json.dumps(value)

    def invalidate_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()


class _ImdsHandler(_Handler):
    @property
    def imds(self) -> FakeImds:
        return self.server.fake  # type: ignore[attr-defined, no-any-return]

    def do_PUT(self) -> None:
        self._body()
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if self.path != "/latest/api/token" or ttl is None or not 1 <= int(ttl) <= 21600:
            self._reply(400, b"")
            return
        token = uuid.uuid4().hex
        with self.imds._lock:
            self.imds.tokens[token] = time.monotonic() + int(ttl)
            self.imds.tokens_issued += 1
        self._reply(200, token.encode(), "text/plain")

    def do_GET(self) -> None:
        imds = self.imds
        token = self.headers.get("X-aws-ec2-metadata-token", "")
        with imds._lock:
            valid = imds.tokens.get(token, 0.0) > time.monotonic()
            document = imds.documents.get(self.path)
            if not valid:
                imds.rejected_gets += 1
        if not valid:
            self._reply(401, b"", "text/plain")
        elif document is None:
            self._reply(404, b"", "text/plain")
        else:
            self._reply(200, document.encode(), "text/plain")


def unused_loopback_url() -> str:
    """A loopback URL where nothing listens (connections are refused): 'not on EC2'."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    return f"http://{LOOPBACK}:{port}"


# --- Auto Scaling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoScalingCall:
    action: str
    params: dict[str, str]
    at: float


class AutoScalingStub(_Running):
    """The Auto Scaling query API, for the calls moto does not implement."""

    def __init__(self) -> None:
        self.calls: list[AutoScalingCall] = []
        super().__init__(_AutoScalingHandler)

    def actions(self, action: str) -> list[AutoScalingCall]:
        return [c for c in self.calls if c.action == action]


class _AutoScalingHandler(_Handler):
    def do_POST(self) -> None:
        params = dict(parse_qsl(self._body().decode()))
        action = params.pop("Action", "")
        params.pop("Version", None)
        stub: AutoScalingStub = self.server.fake  # type: ignore[attr-defined]
        stub.calls.append(AutoScalingCall(action, params, time.time()))
        xml = (
            f'<{action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
            f"<{action}Result/><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            f"</ResponseMetadata></{action}Response>"
        )
        self._reply(200, xml.encode(), "text/xml")


# --- AWS call recorder --------------------------------------------------------------------


@dataclass(frozen=True)
class AwsCall:
    service: str
    action: str
    params: dict[str, Any]
    status: int
    started: float
    """Wall-clock time the call arrived (comparable with the worker's log times)."""
    at: float
    """Wall-clock time the answer went back."""
    response: dict[str, Any] | None = None
    """The parsed answer, for SQS (JSON) calls."""


class AwsRecorder(_Running):
    """Forwards every request to ``upstream`` (moto's server) and records it."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or LOOPBACK, parts.port or 80)
        self.calls: list[AwsCall] = []
        self.arrivals: list[tuple[str, float]] = []
        """(SQS action or HTTP method, wall-clock arrival) of every call, answered or not."""
        self._lock = threading.Lock()
        self._connections = threading.local()
        super().__init__(_RecorderHandler)

    def of(self, action: str, where: Callable[[AwsCall], bool] | None = None) -> list[AwsCall]:
        with self._lock:
            return [c for c in self.calls if c.action == action and (where is None or where(c))]

    def actions(self) -> list[str]:
        with self._lock:
            return [c.action for c in self.calls]

    def request_id_of(self, receipt_handle: str) -> str | None:
        """The request id in the message a receive returned with ``receipt_handle``."""
        for call in self.of("ReceiveMessage"):
            for message in (call.response or {}).get("Messages", []):
                if message["ReceiptHandle"] == receipt_handle:
                    return str(json.loads(message["Body"]).get("id"))
        return None

    def _record(self, call: AwsCall) -> None:
        with self._lock:
            self.calls.append(call)

    def _upstream(self) -> http.client.HTTPConnection:
        connection = getattr(self._connections, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(*self.upstream, timeout=60)
            self._connections.connection = connection
        return connection


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _RecorderHandler(_Handler):
    def do_GET(self) -> None:
        self._forward()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    def _forward(self) -> None:
        recorder: AwsRecorder = self.server.fake  # type: ignore[attr-defined]
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        started = time.time()
        with recorder._lock:
            target = self.headers.get("X-Amz-Target", self.command)
            recorder.arrivals.append((target.rsplit(".", 1)[-1], started))
        status, reply_headers, reply = self._send_upstream(recorder, body, headers)
        recorder._record(self._describe(body, status, started, reply))
        self._reply(status, reply, reply_headers.pop("Content-Type", ""), reply_headers)

    def _send_upstream(
        self, recorder: AwsRecorder, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):  # a kept-alive upstream connection may have gone stale
            connection = recorder._upstream()
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                reply = response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                recorder._connections.connection = None
                if attempt:
                    raise
                continue
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            if self.command == "HEAD" and response.getheader("Content-Length") is not None:
                kept["Content-Length"] = str(response.getheader("Content-Length"))
            return response.status, kept, reply
        raise AssertionError("unreachable")

    def _describe(self, body: bytes, status: int, started: float, reply: bytes) -> AwsCall:
        target = self.headers.get("X-Amz-Target")
        if target:  # JSON protocol (SQS): "AmazonSQS.ReceiveMessage"
            action = target.rsplit(".", 1)[-1]
            params = json.loads(body or b"{}")
            answer = json.loads(reply or b"{}")
            return AwsCall("sqs", action, params, status, started, time.time(), answer)
        path = urlsplit(self.path).path.lstrip("/")
        bucket, _, key = path.partition("/")
        action = {
            "PUT": "PutObject",
            "GET": "GetObject",
            "HEAD": "HeadObject",
            "DELETE": "DeleteObject",
            "POST": "PostObject",
        }[self.command]
        params = {"Bucket": bucket, "Key": key, "IfNoneMatch": self.headers.get("If-None-Match")}
        return AwsCall("s3", action, params, status, started, time.time())


# --- CloudWatch agent (EMF) -------------------------------------------------------------------


class FakeEmfAgent:
    """The CloudWatch agent's EMF listener: JSON documents, one per line, over TCP."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        agent = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    if line.strip():
                        with agent._lock:
                            agent.documents.append(json.loads(line))

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((LOOPBACK, 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"tcp://{LOOPBACK}:{self._server.server_address[1]}"

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.documents)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def eventually(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """The first truthy value of ``condition()`` within ``timeout`` seconds, else fail."""
    deadline = time.monotonic() + timeout
    for _ in itertools.count():
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    raise AssertionError("unreachable")


__all__ = [
    "OVERLOADED",
    "UNAVAILABLE",
    "AutoScalingStub",
    "AwsRecorder",
    "EngineCall",
    "FakeEmfAgent",
    "FakeEngine",
    "FakeImds",
    "Scripted",
    "eventually",
    "tgi_error",
    "unused_loopback_url",
    "vllm_error",
]
