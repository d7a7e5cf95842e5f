"""Fixtures: moto's server (one per session), and per test a fresh queue and bucket, a
fake engine, a fake instance-metadata service, an Auto Scaling stub, an AWS call recorder
and a way to start the worker as a subprocess. Everything listens on 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_sagemaker import ENDPOINT, FakeSageMaker
from fakes import AutoScalingStub, AwsRecorder, FakeEmfAgent, FakeEngine, FakeImds
from worker_harness import AwsStack, StartWorker, WorkerProcess


@pytest.fixture
def recorder(moto_url: str) -> Iterator[AwsRecorder]:
    proxy = AwsRecorder(moto_url)
    yield proxy
    proxy.close()


@pytest.fixture
def aws(moto_url: str) -> AwsStack:
    """The test's own AWS calls go straight to moto: the recorder only sees the worker's."""
    return AwsStack.create(moto_url)


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    yield fake
    fake.close()


@pytest.fixture
def endpoint() -> Iterator[FakeSageMaker]:
    """A fake SageMaker endpoint (runtime and DescribeEndpoint) on loopback."""
    fake = FakeSageMaker(ENDPOINT)
    yield fake
    fake.close()


@pytest.fixture
def imds() -> Iterator[FakeImds]:
    fake = FakeImds()
    yield fake
    fake.close()


@pytest.fixture
def autoscaling() -> Iterator[AutoScalingStub]:
    stub = AutoScalingStub()
    yield stub
    stub.close()


@pytest.fixture
def emf_agent() -> Iterator[FakeEmfAgent]:
    agent = FakeEmfAgent()
    yield agent
    agent.close()


@pytest.fixture
def start_worker(
    aws: AwsStack,
    engine: FakeEngine,
    imds: FakeImds,
    recorder: AwsRecorder,
    autoscaling: AutoScalingStub,
) -> Iterator[StartWorker]:
    """Start ``python -m model_server.worker`` wired to this test's fakes; the keyword
    arguments are extra environment variables. Killed at teardown if still running."""
    workers: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = WorkerProcess(
            {
                **aws.worker_env(engine.url, imds.url),
                "AWS_ENDPOINT_URL": recorder.url,
                "AWS_ENDPOINT_URL_AUTO_SCALING": autoscaling.url,
                **env,
            }
        )
        workers.append(worker)
        return worker.started()

    yield start
    for worker in workers:
        worker.kill()
