"""The worker as a real process serving a queue from a SageMaker endpoint
(``WORKER_ENGINE=sagemaker``): moto's SQS and S3, the fake endpoint (runtime and
DescribeEndpoint, real wire protocols). Nothing may be lost: every request ends with
exactly one result, or in the dead-letter queue."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from fake_sagemaker import ENDPOINT, FakeSageMaker, invocation_timeout, model_error, stream_timeout, throttling
from fakes import FakeEmfAgent, FakeImds, eventually
from worker_harness import MODEL, REPO, AwsStack, StartWorker, WorkerProcess, chat_request, worker_environment

from model_server import metrics
from model_server.messages import ErrorKind, ResultStatus, result_key


@pytest.fixture
def start_sagemaker_worker(start_worker: StartWorker, endpoint: FakeSageMaker) -> StartWorker:
    """``start_worker`` in SageMaker mode: SQS and S3 on moto, the runtime and the
    control plane on the fake (boto3's per-service endpoint variables)."""

    def start(**env: str) -> WorkerProcess:
        return start_worker(
            **{
                "WORKER_ENGINE": "sagemaker",
                "WORKER_ENDPOINT_NAME": ENDPOINT,
                "WORKER_ENDPOINT_REFRESH_SECONDS": "0.2",
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url,
                "AWS_ENDPOINT_URL_SAGEMAKER": endpoint.url,
                **env,
            }
        )

    return start


def test_serves_the_queue_through_the_endpoint_losing_nothing(
    moto_url: str, endpoint: FakeSageMaker, imds: FakeImds, start_sagemaker_worker: StartWorker
) -> None:
    stack = AwsStack.create(moto_url, max_receive_count=3)
    endpoint.fail_prompt("throttled", throttling(), throttling())
    endpoint.fail_prompt("slow", invocation_timeout(), invocation_timeout(), invocation_timeout())
    endpoint.fail_prompt("cut", stream_timeout())
    endpoint.fail_prompt("invalid", model_error(422, '{"error": "Input validation error: `top_p` must be > 0"}'))
    endpoint.always_for["doomed"] = invocation_timeout()
    special = ["throttled", "slow", "cut", "invalid", "doomed"]
    prompts = {f"req-{p}": p for p in special} | {f"req-{i}": f"plain {i}" for i in range(10)}
    worker = start_sagemaker_worker(
        WORKER_QUEUE_URL=stack.queue_url,
        WORKER_RESULTS_BUCKET=stack.bucket,
        WORKER_ENGINE_RETRY_ATTEMPTS="3",
        WORKER_RELEASE_BACKOFF_BASE_SECONDS="0",
    )
    stack.send(*(chat_request(rid, prompt) for rid, prompt in prompts.items()))

    eventually(lambda: stack.counts() == (0, 0) and stack.dlq_size() == 1, 20, "an empty queue, one dead letter", 0.2)

    served = [rid for rid in prompts if rid != "req-doomed"]
    assert stack.all_result_versions() == {result_key(MODEL, rid): 1 for rid in served}
    results = {rid: stack.result(rid) for rid in served}
    assert {rid for rid, r in results.items() if r and r.status is ResultStatus.SUCCEEDED} == set(served) - {
        "req-invalid"
    }
    failed = results["req-invalid"]
    assert failed is not None and failed.error is not None
    assert (failed.error.kind, failed.error.engine_status) == (ErrorKind.INVALID_REQUEST, 422)
    assert failed.error.message == "Input validation error: `top_p` must be > 0"
    ok = results["req-0"]
    assert ok is not None and ok.response is not None and ok.engine == "sagemaker"
    assert ok.response["choices"][0]["message"]["content"] == "echo: plain 0"
    assert (results["req-throttled"].receive_count, results["req-slow"].receive_count) == (1, 2)  # type: ignore[union-attr]
    assert len(endpoint.calls_for("doomed")) == 3 * 3  # maxReceiveCount deliveries x attempts
    assert stack.result("req-doomed") is None
    # Not on EC2: instance metadata is never asked, and its absence is not an error.
    assert imds.tokens_issued == 0
    assert worker.events("instance_metadata_unreachable") == []
    assert worker.wait_for("worker_started")["watches_instance"] is False


def test_in_flight_follows_the_endpoints_instance_count_up_to_the_ceiling(
    aws: AwsStack, endpoint: FakeSageMaker, start_sagemaker_worker: StartWorker
) -> None:
    endpoint.latency = 1.0
    worker = start_sagemaker_worker(WORKER_MAX_IN_FLIGHT_PER_INSTANCE="2", WORKER_MAX_IN_FLIGHT="5")
    aws.send(*(chat_request(f"req-{i}") for i in range(30)))
    worker.wait_for("in_flight_cap", cap=2)
    time.sleep(1.5)
    one_instance = endpoint.max_active

    endpoint.instances = 3  # 3 x 2 = 6, over the ceiling of 5
    worker.wait_for("in_flight_cap", cap=5)
    endpoint.reset_max_active()
    time.sleep(1.5)

    assert (one_instance, endpoint.max_active) == (2, 5)


def test_takes_no_work_until_the_endpoint_is_in_service(
    aws: AwsStack, endpoint: FakeSageMaker, start_sagemaker_worker: StartWorker
) -> None:
    endpoint.status = "Creating"
    worker = start_sagemaker_worker()
    aws.send(chat_request("req-1"))
    time.sleep(1.0)
    assert endpoint.calls == []
    assert aws.counts() == (1, 0)

    endpoint.status = "InService"

    result = eventually(lambda: aws.result("req-1"), 10, "the result")
    assert result.status is ResultStatus.SUCCEEDED
    assert [e["status"] for e in worker.events("endpoint_status")] == ["Creating", "InService"]


def test_sigterm_hands_back_a_generation_that_cannot_finish_and_hangs_up(
    aws: AwsStack, endpoint: FakeSageMaker, start_sagemaker_worker: StartWorker
) -> None:
    endpoint.latency = 30.0
    worker = start_sagemaker_worker(WORKER_DRAIN_SECONDS="1", WORKER_VISIBILITY_TIMEOUT_SECONDS="60")
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    worker.terminate()

    assert worker.wait(5) == 0
    assert aws.counts() == (1, 0)  # visible again now, not after 60 s
    assert aws.result("req-1") is None
    [call] = endpoint.calls
    eventually(lambda: call.disconnected, 2, "the endpoint to see the call hung up")


def test_sigterm_lets_a_generation_finish_within_the_drain(
    aws: AwsStack, endpoint: FakeSageMaker, start_sagemaker_worker: StartWorker
) -> None:
    endpoint.latency = 0.7
    worker = start_sagemaker_worker(WORKER_DRAIN_SECONDS="5")
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")

    worker.terminate()

    assert worker.wait(8) == 0
    result = aws.result("req-1")
    assert result is not None and result.status is ResultStatus.SUCCEEDED
    assert aws.counts() == (0, 0)


def test_publishes_metrics_and_the_endpoints_instances_but_no_engine_queue_size(
    aws: AwsStack, emf_agent: FakeEmfAgent, start_sagemaker_worker: StartWorker, endpoint: FakeSageMaker
) -> None:
    endpoint.instances = 3
    start_sagemaker_worker(WORKER_METRICS_INTERVAL_SECONDS="0.5", WORKER_EMF_ENDPOINT=emf_agent.endpoint)
    aws.send(chat_request("req-1"))

    eventually(lambda: any(d.get(metrics.SUCCEEDED) == 1 for d in emf_agent.received()), 10, "the success counted")

    names = {m["Name"] for d in emf_agent.received() for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {metrics.IN_FLIGHT, metrics.GENERATION_TIME, metrics.SUCCEEDED} <= names
    assert metrics.ENGINE_QUEUE not in names
    # The endpoint's scaling on backlog per instance and its too-few-instances alarm read it.
    assert {d[metrics.ENDPOINT_INSTANCES] for d in emf_agent.received() if metrics.ENDPOINT_INSTANCES in d} == {3}


def test_refuses_to_start_without_an_endpoint_name(aws: AwsStack) -> None:
    env = worker_environment(
        {"WORKER_QUEUE_URL": aws.queue_url, "WORKER_RESULTS_BUCKET": aws.bucket, "WORKER_MODEL": MODEL}
    )
    env["WORKER_ENGINE"] = "sagemaker"

    done = subprocess.run(
        [sys.executable, "-m", "model_server.worker"], env=env, cwd=REPO, capture_output=True, text=True, timeout=30
    )

    assert done.returncode == 2
    assert "WORKER_ENDPOINT_NAME is required when WORKER_ENGINE=sagemaker" in done.stderr
