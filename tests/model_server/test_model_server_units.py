"""Small pure pieces: the message schema, settings, metric documents, metric scraping."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from datetime import UTC, datetime
from importlib.metadata import packages_distributions

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import ValidationError
from worker_harness import MODEL, REPO

from model_server import metrics
from model_server.engines import ENGINES, EngineName
from model_server.messages import Request, Result, ResultStatus, Timings, result_key
from model_server.queue_url import region_of
from model_server.worker import emf
from model_server.worker.aws import RequestQueue, ResultStore, client_config
from model_server.worker.engine_client import prometheus_value
from model_server.worker.service import release_backoff
from model_server.worker.settings import WorkerSettings

REQUIRED = {"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q", "results_bucket": "b", "model": MODEL}


def _request(**overrides: object) -> dict[str, object]:
    return {"id": "req-1", "model": MODEL, "request": {"messages": [{"role": "user", "content": "hi"}]}, **overrides}


def test_result_key_is_under_results_model_id() -> None:
    assert result_key("chat", "abc-1") == "results/chat/abc-1.json"


@pytest.mark.parametrize("bad_id", ["../etc", "a/b", "", "x" * 129])
def test_request_rejects_an_id_that_is_not_one_key_segment(bad_id: str) -> None:
    with pytest.raises(ValidationError, match="id"):
        Request.model_validate(_request(id=bad_id))


def test_request_keeps_chat_completion_fields_it_does_not_know() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "top_p": 0.9, "seed": 3}

    request = Request.model_validate(_request(request=body))

    assert request.request.model_dump(exclude_none=True, exclude_defaults=True) == body


def test_request_refuses_streaming_with_a_clear_message() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}

    with pytest.raises(ValidationError, match="streaming is not supported on the queue path"):
        Request.model_validate(_request(request=body))


def test_result_must_have_a_response_when_succeeded() -> None:
    moment = datetime.now(UTC)
    timings = Timings(sent_at=moment, started_at=moment, finished_at=moment, queue_wait_seconds=0, generation_seconds=0)

    with pytest.raises(ValidationError, match="succeeded result has a response"):
        Result(
            id="a",
            model=MODEL,
            status=ResultStatus.SUCCEEDED,
            timings=timings,
            receive_count=1,
            instance_id="i",
            engine="tgi",
        )


@pytest.mark.parametrize(("engine", "port"), [("tgi", 8080), ("vllm", 8080)])
def test_engine_url_defaults_to_the_engine_port_on_localhost(engine: EngineName, port: int) -> None:
    settings = WorkerSettings(**REQUIRED, engine=engine)

    assert settings.resolved_engine_url == f"http://127.0.0.1:{port}"
    assert port == ENGINES[engine].port


def test_settings_refuse_a_heartbeat_as_long_as_the_visibility_timeout() -> None:
    with pytest.raises(ValidationError, match=r"WORKER_HEARTBEAT_SECONDS .* must be below"):
        WorkerSettings(**REQUIRED, visibility_timeout_seconds=10, heartbeat_seconds=10)


def test_settings_read_the_worker_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_QUEUE_URL", "https://sqs.us-west-2.amazonaws.com/1/q")
    monkeypatch.setenv("WORKER_RESULTS_BUCKET", "bucket")
    monkeypatch.setenv("WORKER_MODEL", MODEL)
    monkeypatch.setenv("WORKER_MAX_IN_FLIGHT", "12")

    settings = WorkerSettings()  # type: ignore[call-arg]

    assert (settings.max_in_flight, settings.imds_url) == (12, "http://169.254.169.254")


def test_region_comes_from_an_aws_queue_url_only() -> None:
    assert region_of("https://sqs.ap-south-1.amazonaws.com/123/q") == "ap-south-1"
    assert region_of("http://127.0.0.1:5000/123/q") is None


def test_aws_clients_use_the_standard_retry_mode() -> None:
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    queue = RequestQueue(session, "https://example", client_config(read_timeout_seconds=30, pool_size=4))

    assert queue._sqs.meta.config.retries["mode"] == "standard"


def test_prometheus_value_sums_label_sets_and_ignores_longer_names() -> None:
    text = "\n".join(
        [
            "# HELP vllm:num_requests_waiting waiting",
            'vllm:num_requests_waiting{model_name="a"} 2.0',
            'vllm:num_requests_waiting{model_name="b"} 3',
            "vllm:num_requests_waiting_total 100",
        ]
    )

    assert prometheus_value(text, "vllm:num_requests_waiting") == 5.0
    assert prometheus_value(text, "tgi_queue_size") is None


def test_emf_splits_metrics_with_more_than_100_values_across_documents() -> None:
    values = {metrics.QUEUE_WAIT: [float(i) for i in range(250)], metrics.SUCCEEDED: [250.0]}

    documents = emf.emf_documents(values, MODEL, "i-1", 0)

    assert [len(d.get(metrics.QUEUE_WAIT, [])) for d in documents] == [100, 100, 50]  # type: ignore[arg-type]
    assert [metrics.SUCCEEDED in d for d in documents] == [True, False, False]
    assert all(len(json.dumps(d)) < 256 * 1024 for d in documents)


def test_emf_endpoint_must_be_tcp_udp_stdout_or_off() -> None:
    with pytest.raises(ValueError, match="expected tcp://host:port"):
        emf.sink_for("http://127.0.0.1:25888")


@pytest.mark.parametrize(("receive_count", "ceiling"), [(1, 10), (2, 20), (3, 40), (9, 300)])
def test_release_backoff_doubles_per_receive_up_to_the_cap_with_jitter(receive_count: int, ceiling: int) -> None:
    lowest = release_backoff(receive_count, 10, 300, uniform=lambda low, high: low)
    highest = release_backoff(receive_count, 10, 300, uniform=lambda low, high: high)
    drawn = {release_backoff(receive_count, 10, 300) for _ in range(200)}

    assert (lowest, highest) == (ceiling // 2, ceiling)
    assert min(drawn) >= lowest and max(drawn) <= highest and len(drawn) > 2


def test_result_store_reports_unknown_when_s3_answers_403_to_a_head() -> None:
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    store = ResultStore(session, "bucket", client_config(read_timeout_seconds=5, pool_size=1))
    # What S3 answers a role with s3:GetObject but no s3:ListBucket, for a missing key.
    with Stubber(store._s3) as s3:
        s3.add_client_error("head_object", service_error_code="403", http_status_code=403)
        s3.add_client_error("head_object", service_error_code="404", http_status_code=404)

        assert store.exists("results/chat/a.json") is None
        assert store.exists("results/chat/a.json") is False


def test_docs_list_every_worker_setting_with_its_default() -> None:
    docs = (REPO / "docs" / "worker.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in docs.splitlines() if line.startswith("| `WORKER_")}

    for name, field in WorkerSettings.model_fields.items():
        row = rows.get(f"WORKER_{name.upper()}")
        assert row is not None, f"WORKER_{name.upper()} is not in docs/worker.md"
        if field.default is not None and not field.is_required():
            assert f"`{field.default}`" in row, f"WORKER_{name.upper()}: default {field.default!r}"


def _third_party_imports() -> set[str]:
    roots: set[str] = set()
    for path in (REPO / "model_server").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return {r for r in roots if r not in sys.stdlib_module_names and r not in ("model_server", "__future__")}


def _normalized(distribution: str) -> str:
    """A distribution's name as PEP 503 compares them (huggingface_hub is huggingface-hub)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_worker_extra_lists_exactly_what_model_server_imports() -> None:
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["worker"]
    declared = {_normalized(re.split(r"[<>=!~\[ ;]", requirement)[0]) for requirement in extra}
    distributions = packages_distributions()
    # botocore comes with boto3 (same release train); importing it directly is boto3's API.
    imported = {_normalized(distributions[root][0]) for root in _third_party_imports()} - {"botocore"}

    assert imported == declared
    assert "pulumi" not in _third_party_imports()


def test_emf_names_the_log_group_only_when_one_is_set() -> None:
    values = {metrics.SUCCEEDED: [1.0]}

    [named] = emf.emf_documents(values, MODEL, "i-1", 0, log_group="/llm-serving/dev/worker-metrics")
    [unnamed] = emf.emf_documents(values, MODEL, "i-1", 0)

    assert named["_aws"]["LogGroupName"] == "/llm-serving/dev/worker-metrics"  # type: ignore[index]
    assert "LogGroupName" not in unnamed["_aws"]  # type: ignore[operator]
