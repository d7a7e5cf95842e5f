"""Metrics: CloudWatch Embedded Metric Format documents sent to the agent's TCP listener,
with the names, namespace, dimensions and resolution of model_server.metrics."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import UNAVAILABLE, FakeEmfAgent, FakeEngine, FakeImds, eventually, tgi_error
from worker_harness import MODEL, AwsStack, StartWorker, chat_request

from model_server import metrics
from model_server.engines import ENGINES

ALL_NAMES = {
    metrics.IN_FLIGHT,
    metrics.ENGINE_QUEUE,
    metrics.TOKENS_PER_SECOND,
    metrics.QUEUE_WAIT,
    metrics.GENERATION_TIME,
    metrics.SUCCEEDED,
    metrics.FAILED,
    metrics.ENGINE_ERRORS,
}


def _values(documents: list[dict[str, Any]], name: str) -> list[float]:
    values: list[float] = []
    for document in documents:
        value = document.get(name)
        if value is not None:
            values.extend(value if isinstance(value, list) else [value])
    return values


def test_documents_declare_namespace_dimensions_and_high_resolution(
    aws: AwsStack, imds: FakeImds, emf_agent: FakeEmfAgent, start_worker: StartWorker
) -> None:
    start_worker(WORKER_METRICS_INTERVAL_SECONDS="0.5", WORKER_EMF_ENDPOINT=emf_agent.endpoint)
    aws.send(*(chat_request(f"req-{i}") for i in range(3)))
    eventually(lambda: sum(_values(emf_agent.received(), metrics.SUCCEEDED)) == 3, 10, "three successes in the metrics")

    documents = emf_agent.received()
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == metrics.NAMESPACE
        assert directive["Dimensions"] == [["Model"], ["Model", "InstanceId"]]
        declared = {m["Name"] for m in directive["Metrics"]}
        assert declared <= ALL_NAMES
        assert all(m["StorageResolution"] == 1 for m in directive["Metrics"])
        assert all(name in document for name in declared)
        assert (document["Model"], document["InstanceId"]) == (MODEL, "i-0a1b2c3d4e5f67890")
        assert isinstance(document["_aws"]["Timestamp"], int)


def test_reports_in_flight_requests_and_per_request_times(
    aws: AwsStack, engine: FakeEngine, emf_agent: FakeEmfAgent, start_worker: StartWorker
) -> None:
    engine.latency = 1.0
    start_worker(WORKER_METRICS_INTERVAL_SECONDS="0.5", WORKER_EMF_ENDPOINT=emf_agent.endpoint)
    aws.send(chat_request("req-1", max_tokens=30), chat_request("req-2", max_tokens=30))
    eventually(lambda: len(_values(emf_agent.received(), metrics.GENERATION_TIME)) == 2, 10, "two generation times")

    documents = emf_agent.received()
    assert max(_values(documents, metrics.IN_FLIGHT)) == 2
    assert all(0.9 < v < 2.0 for v in _values(documents, metrics.GENERATION_TIME))
    assert all(0 <= v < 2.0 for v in _values(documents, metrics.QUEUE_WAIT))
    # A rate per second over 0.5 s windows: 60 completion tokens in all.
    assert 0.5 * sum(_values(documents, metrics.TOKENS_PER_SECOND)) == pytest.approx(60, rel=0.3)


@pytest.mark.parametrize("engine_name", ["tgi", "vllm"])
def test_reports_the_engine_queue_from_its_prometheus_metrics(
    engine_name: str,
    aws: AwsStack,
    engine: FakeEngine,
    emf_agent: FakeEmfAgent,
    start_worker: StartWorker,
) -> None:
    engine.queue_metric = ENGINES[engine_name].queue_size_metric  # type: ignore[index]
    engine.reported_queue_size = 7
    start_worker(
        WORKER_METRICS_INTERVAL_SECONDS="0.5", WORKER_EMF_ENDPOINT=emf_agent.endpoint, WORKER_ENGINE=engine_name
    )

    eventually(lambda: _values(emf_agent.received(), metrics.ENGINE_QUEUE), 5, "the engine queue size")

    assert set(_values(emf_agent.received(), metrics.ENGINE_QUEUE)) == {7}


def test_counts_transient_engine_errors_and_failed_requests(
    aws: AwsStack, engine: FakeEngine, emf_agent: FakeEmfAgent, start_worker: StartWorker
) -> None:
    engine.fail_next(UNAVAILABLE, tgi_error(422, "Input validation error"))
    start_worker(
        WORKER_EMF_ENDPOINT=emf_agent.endpoint,
        WORKER_ENGINE_RETRY_ATTEMPTS="1",
        WORKER_RELEASE_BACKOFF_BASE_SECONDS="0",
    )
    aws.send(chat_request("req-1"))

    eventually(lambda: sum(_values(emf_agent.received(), metrics.FAILED)) == 1, 10, "the failed request counted")

    documents = emf_agent.received()
    assert sum(_values(documents, metrics.ENGINE_ERRORS)) == 1
    assert sum(_values(documents, metrics.SUCCEEDED)) == 0
