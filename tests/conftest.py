"""Shared fixtures: offline plans of the committed stacks and moto's server, each once per
session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from infra.plan import Plan, run_plan


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return run_plan("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return run_plan("prod")


@pytest.fixture(scope="session")
def mixed_plan() -> Plan:
    """tests/stacks/Pulumi.mixed.yaml: EC2 and SageMaker models, one with a schedule."""
    return run_plan("mixed", project_dir=Path(__file__).parent / "stacks")


@pytest.fixture(scope="session")
def eks_existing_plan() -> Plan:
    """tests/stacks/Pulumi.eks-existing.yaml: a TGI model on an existing Auto Mode cluster."""
    return run_plan("eks-existing", project_dir=Path(__file__).parent / "stacks")


@pytest.fixture(scope="session")
def eks_created_plan() -> Plan:
    """tests/stacks/Pulumi.eks-created.yaml: a created Auto Mode cluster (vLLM model) beside an EC2 model."""
    return run_plan("eks-created", project_dir=Path(__file__).parent / "stacks")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server on loopback, one per session: AWS for every boto3 path under test
    (point a process at it with AWS_ENDPOINT_URL)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
