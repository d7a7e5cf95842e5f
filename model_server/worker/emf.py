"""The worker's metrics as CloudWatch Embedded Metric Format (EMF) documents.

An EMF document is one JSON line: the metric values as top-level fields, and an ``_aws``
section telling CloudWatch which fields are metrics, in which namespace, with which
dimension sets and resolution. The CloudWatch agent (TCP/UDP listener) or a log shipper
(stdout on EKS) turns it into metrics; nothing here calls the CloudWatch API, so
publishing never blocks the worker or needs cloudwatch:PutMetricData.

Names, namespace, dimensions and resolution come from ``model_server.metrics``.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Protocol
from urllib.parse import urlsplit

from model_server import metrics
from model_server.worker import logs

MAX_VALUES_PER_METRIC = 100
"""EMF's limit on one metric's values in one document; longer series are split."""

_UNITS = {
    metrics.IN_FLIGHT: "Count",
    metrics.ENGINE_QUEUE: "Count",
    metrics.ENDPOINT_INSTANCES: "Count",
    metrics.TOKENS_PER_SECOND: "Count/Second",
    metrics.QUEUE_WAIT: "Seconds",
    metrics.GENERATION_TIME: "Seconds",
    metrics.SUCCEEDED: "Count",
    metrics.FAILED: "Count",
    metrics.ENGINE_ERRORS: "Count",
}
_DIMENSION_SETS = [
    [metrics.DIMENSION_MODEL],
    [metrics.DIMENSION_MODEL, metrics.DIMENSION_INSTANCE],
]


class MetricsRecorder:
    """Collects values between two publications; ``drain`` hands them over and resets.

    Called from the event loop and from the publishing thread, hence the lock.
    """

    def __init__(self, model: str, instance_id: str, log_group: str | None = None) -> None:
        self.model = model
        self.instance_id = instance_id
        self.log_group = log_group
        self._lock = threading.Lock()
        self._in_flight: list[float] = []
        self._engine_queue: float | None = None
        self._endpoint_instances: float | None = None
        self._queue_wait: list[float] = []
        self._generation: list[float] = []
        self._tokens = 0.0
        self._succeeded = 0
        self._failed = 0
        self._engine_errors = 0

    def sample_in_flight(self, count: int) -> None:
        with self._lock:
            self._in_flight.append(float(count))

    def set_engine_queue(self, size: float | None) -> None:
        with self._lock:
            self._engine_queue = size

    def set_endpoint_instances(self, count: int | None) -> None:
        with self._lock:
            self._endpoint_instances = None if count is None else float(count)

    def succeeded(self, queue_wait: float, generation: float, tokens: int | None) -> None:
        with self._lock:
            self._succeeded += 1
            self._queue_wait.append(queue_wait)
            self._generation.append(generation)
            self._tokens += tokens or 0

    def failed(self) -> None:
        with self._lock:
            self._failed += 1

    def engine_error(self) -> None:
        with self._lock:
            self._engine_errors += 1

    def drain(self, interval_seconds: float) -> dict[str, list[float]]:
        """Every metric's values since the last drain (gauges, per-request values, sums)."""
        with self._lock:
            values: dict[str, list[float]] = {
                metrics.IN_FLIGHT: self._in_flight,
                metrics.TOKENS_PER_SECOND: [self._tokens / interval_seconds],
                metrics.QUEUE_WAIT: self._queue_wait,
                metrics.GENERATION_TIME: self._generation,
                metrics.SUCCEEDED: [float(self._succeeded)],
                metrics.FAILED: [float(self._failed)],
                metrics.ENGINE_ERRORS: [float(self._engine_errors)],
            }
            if self._engine_queue is not None:
                values[metrics.ENGINE_QUEUE] = [self._engine_queue]
            if self._endpoint_instances is not None:
                values[metrics.ENDPOINT_INSTANCES] = [self._endpoint_instances]
            self._in_flight, self._queue_wait, self._generation = [], [], []
            self._tokens, self._succeeded, self._failed, self._engine_errors = 0.0, 0, 0, 0
            self._engine_queue = self._endpoint_instances = None
        return {name: series for name, series in values.items() if series}

    def documents(self, timestamp_ms: int, interval_seconds: float) -> list[dict[str, object]]:
        values = self.drain(interval_seconds)
        return emf_documents(values, self.model, self.instance_id, timestamp_ms, self.log_group)


def emf_documents(
    values: dict[str, list[float]],
    model: str,
    instance_id: str,
    timestamp_ms: int,
    log_group: str | None = None,
) -> list[dict[str, object]]:
    """EMF documents carrying ``values``, split so no metric has over 100 values in one."""
    documents = []
    for chunk in _chunks(values):
        directive = {
            "Namespace": metrics.NAMESPACE,
            "Dimensions": _DIMENSION_SETS,
            "Metrics": [
                {"Name": name, "Unit": _UNITS[name], "StorageResolution": metrics.STORAGE_RESOLUTION_SECONDS}
                for name in chunk
            ],
        }
        metadata: dict[str, object] = {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]}
        if log_group is not None:
            metadata["LogGroupName"] = log_group  # read by the CloudWatch agent
        document: dict[str, object] = {
            "_aws": metadata,
            metrics.DIMENSION_MODEL: model,
            metrics.DIMENSION_INSTANCE: instance_id,
        }
        for name, series in chunk.items():
            document[name] = series[0] if len(series) == 1 else series
        documents.append(document)
    return documents


def _chunks(values: dict[str, list[float]]) -> Iterator[dict[str, list[float]]]:
    start = 0
    while True:
        chunk = {
            name: series[start : start + MAX_VALUES_PER_METRIC]
            for name, series in values.items()
            if series[start : start + MAX_VALUES_PER_METRIC]
        }
        if not chunk:
            return
        yield chunk
        start += MAX_VALUES_PER_METRIC


class Sink(Protocol):
    def send(self, documents: list[dict[str, object]]) -> None: ...
    def close(self) -> None: ...


class TcpSink:
    """The CloudWatch agent's EMF listener: newline-delimited JSON over one connection,
    reopened on failure. Documents that cannot be sent are dropped (metrics must never
    block or crash the worker), and the failure is logged once until it recovers."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._socket: socket.socket | None = None
        self._failing = False

    def send(self, documents: list[dict[str, object]]) -> None:
        payload = "".join(json.dumps(d) + "\n" for d in documents).encode()
        failure: OSError | None = None
        for _ in range(2):  # a stale connection fails once; a fresh one should not
            try:
                if self._socket is None:
                    self._socket = socket.create_connection(self._address, timeout=2.0)
                self._socket.sendall(payload)
            except OSError as exc:
                self.close()
                failure = exc
                continue
            if self._failing:
                logs.event("metrics_sink_recovered", endpoint=f"{self._address}")
            self._failing = False
            return
        if not self._failing:
            logs.warning(
                "metrics_sink_unreachable",
                endpoint=f"{self._address}",
                error=repr(failure),
                dropped_documents=len(documents),
            )
        self._failing = True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class UdpSink:
    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, documents: list[dict[str, object]]) -> None:
        for document in documents:
            try:
                self._socket.sendto(json.dumps(document).encode(), self._address)
            except OSError as exc:
                logs.warning("metrics_sink_unreachable", endpoint=f"{self._address}", error=repr(exc))

    def close(self) -> None:
        self._socket.close()


class StdoutSink:
    def send(self, documents: list[dict[str, object]]) -> None:
        sys.stdout.write("".join(json.dumps(d) + "\n" for d in documents))
        sys.stdout.flush()

    def close(self) -> None:
        pass


class NullSink:
    def send(self, documents: list[dict[str, object]]) -> None:
        pass

    def close(self) -> None:
        pass


def sink_for(endpoint: str) -> Sink:
    """``tcp://host:port``, ``udp://host:port``, ``stdout`` or ``off``."""
    if endpoint == "stdout":
        return StdoutSink()
    if endpoint == "off":
        return NullSink()
    parts = urlsplit(endpoint)
    if parts.scheme in ("tcp", "udp") and parts.hostname and parts.port:
        sink_class = TcpSink if parts.scheme == "tcp" else UdpSink
        return sink_class(parts.hostname, parts.port)
    raise ValueError(f"WORKER_EMF_ENDPOINT={endpoint!r}: expected tcp://host:port, udp://host:port, stdout or off")
