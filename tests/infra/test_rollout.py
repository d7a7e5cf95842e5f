"""``rollout wait``: polling instance refreshes until they end, and judging how they ended.

moto implements no instance-refresh API, so these tests use botocore's ``Stubber``, which
checks every request's parameters and every canned response against the real API model of
EC2 Auto Scaling (the same model boto3 sends with)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from infra import cli
from infra.rollout import GroupRollout, latest_refresh, wait_for_rollout

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "autoscaling", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def refresh(status: str, *, refresh_id: str = "r-new", minutes: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "InstanceRefreshId": refresh_id,
        "AutoScalingGroupName": "g",
        "Status": status,
        "StartTime": T0 + timedelta(minutes=minutes),
        **extra,
    }


def answer(stubber: Stubber, group: str, *refreshes: dict[str, Any]) -> None:
    stubber.add_response(
        "describe_instance_refreshes",
        {"InstanceRefreshes": [{**r, "AutoScalingGroupName": group} for r in refreshes]},
        {"AutoScalingGroupName": group, "MaxRecords": 100},
    )


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_waits_while_a_refresh_runs_and_succeeds_when_every_group_is_successful(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stubber = stubbed
    answer(stubber, "od", refresh("InProgress", PercentageComplete=50))
    answer(stubber, "spot", refresh("Successful"))
    answer(stubber, "od", refresh("Baking", PercentageComplete=100))
    answer(stubber, "spot", refresh("Successful"))
    answer(stubber, "od", refresh("Successful", PercentageComplete=100))
    answer(stubber, "spot", refresh("Successful"))
    time = FakeTime()
    heard: list[str] = []

    result = wait_for_rollout(
        client,
        ["od", "spot"],
        timeout_seconds=600,
        poll_seconds=30,
        report=lambda g: heard.append(g.describe()),
        clock=time.clock,
        sleep=time.sleep,
    )

    assert result.ok
    assert time.sleeps == [30, 30]
    assert heard == [
        "od: refresh r-new still InProgress, 50%",
        "spot: refresh r-new Successful",
        "od: refresh r-new still Baking, 100%",
        "od: refresh r-new Successful",
    ]


def test_a_refresh_rolled_back_by_aws_is_a_failed_rollout_said_plainly(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    answer(
        stubber,
        "od",
        refresh(
            "RollbackSuccessful",
            StatusReason="An alarm went into ALARM state",
            RollbackDetails={"RollbackReason": "llm-dev-chat-target-5xx-rate in ALARM"},
        ),
    )

    result = wait_for_rollout(client, ["od"], timeout_seconds=60, sleep=lambda _s: None)

    assert not result.ok
    assert [g.group for g in result.rolled_back] == ["od"]
    message = result.groups[0].describe()
    assert "FAILED and was ROLLED BACK by AWS (RollbackSuccessful)" in message
    assert "llm-dev-chat-target-5xx-rate in ALARM" in message
    assert "not the one deployed" in message


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "RollbackFailed"])
def test_failed_cancelled_and_failed_rollbacks_fail(stubbed: tuple[Any, Stubber], status: str) -> None:
    client, stubber = stubbed
    answer(stubber, "od", refresh(status, StatusReason="instances did not become healthy"))

    result = wait_for_rollout(client, ["od"], timeout_seconds=60, sleep=lambda _s: None)

    assert not result.ok
    assert result.groups[0].describe() == f"od: refresh r-new {status}: instances did not become healthy"


def test_still_running_at_the_timeout_fails_as_timed_out(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    for _ in range(3):
        answer(stubber, "od", refresh("InProgress", PercentageComplete=10))
    time = FakeTime()

    result = wait_for_rollout(client, ["od"], timeout_seconds=50, poll_seconds=30, clock=time.clock, sleep=time.sleep)

    assert result.timed_out
    assert not result.ok
    assert time.sleeps == [30, 20]


def test_the_latest_refresh_counts_and_older_ones_are_ignored(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    answer(stubber, "od", refresh("Successful", refresh_id="r-new", minutes=30), refresh("Failed", refresh_id="r-old"))

    assert latest_refresh(client, "od").status == "Successful"


def test_refreshes_before_the_deploy_started_do_not_count(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    answer(stubber, "od", refresh("Failed", refresh_id="r-yesterday", minutes=-60 * 24))

    state = latest_refresh(client, "od", since=T0)

    assert state == GroupRollout("od", None, None)
    assert state.ok
    assert state.describe() == "od: no instance refresh: nothing to roll"


def test_a_group_never_refreshed_has_nothing_to_wait_for(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    answer(stubber, "od")
    result = wait_for_rollout(client, ["od"], timeout_seconds=60, sleep=lambda _s: None)
    assert result.ok


# ------------------------------------------------------------------------ command line


def test_cli_skips_and_says_so_when_the_outputs_name_no_groups(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"models": {"chat": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q"}}}))

    result = CliRunner().invoke(cli.app, ["rollout", "wait", "dev", "--outputs", str(outputs)])

    assert result.exit_code == 0
    assert "skipped: the outputs of dev name no Auto Scaling groups or SageMaker endpoints" in result.output


def test_cli_refuses_a_since_that_is_not_a_time(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["rollout", "wait", "dev", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "--since yesterday: not an ISO 8601 time" in result.output


@pytest.mark.parametrize("command", [["rollout", "wait", "dev"], ["smoke", "dev"]])
def test_cli_without_the_pulumi_cli_or_an_outputs_file_says_what_to_do(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    result = CliRunner().invoke(cli.app, command)

    assert result.exit_code == 2
    assert "the Pulumi CLI is not installed" in result.output
    assert "--outputs FILE holding `pulumi stack output --json -s dev`" in result.output


# ----------------------------------------------------------------- SageMaker endpoints


@pytest.fixture
def sagemaker() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        for name in ("assist-model-old", "assist-model-new"):
            client.create_model(
                ModelName=name,
                ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
                PrimaryContainer={"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tgi:1"},
            )
            client.create_endpoint_config(
                EndpointConfigName=name.replace("model", "config"),
                # moto refuses the GPU types SageMaker hosts LLMs on; the check reads names only.
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": name,
                        "InstanceType": "ml.g4dn.xlarge",
                        "InitialInstanceCount": 1,
                    }
                ],
            )
        client.create_endpoint(EndpointName="llm-prod-assist-g6e-xlarge", EndpointConfigName="assist-config-old")
        yield client


def test_an_endpoint_on_the_deployed_configuration_passes(sagemaker: Any) -> None:
    from infra.rollout import endpoint_problem

    assert endpoint_problem(sagemaker, "llm-prod-assist-g6e-xlarge", "assist-config-old") is None


def test_an_endpoint_sagemaker_rolled_back_fails_the_rollout_naming_both_configurations(sagemaker: Any) -> None:
    from infra.rollout import endpoint_problem

    problem = endpoint_problem(sagemaker, "llm-prod-assist-g6e-xlarge", "assist-config-new")
    assert problem is not None
    assert "runs the configuration assist-config-old, not assist-config-new" in problem
    assert "rolled the deployment back" in problem
