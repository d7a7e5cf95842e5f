"""``llm-serving smoke`` against moto's server, the real worker (a subprocess) and a fake
engine: a healthy model, a model that answers with an error, one that does not answer,
an alarm in ALARM, a fleet short of capacity, and checks the outputs give no resource for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

# The worker harness and fakes of the worker's own tests (plain modules in that folder).
sys.path.insert(0, str(Path(__file__).parents[1] / "model_server"))
from fakes import AutoScalingStub, FakeEngine, FakeImds, tgi_error
from worker_harness import FAKE_CREDENTIALS, MODEL, REGION, AwsStack, WorkerProcess

from infra.smoke import SMOKE_ACTIONS, run_smoke
from infra.stack_outputs import StackOutputs
from tests.helpers import ROOT


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    yield fake
    fake.close()


@pytest.fixture
def worker(moto_url: str, engine: FakeEngine) -> Iterator[AwsStack]:
    """A model's queue and results bucket on moto, served by the real worker."""
    aws = AwsStack.create(moto_url)
    imds, autoscaling = FakeImds(), AutoScalingStub()
    process = WorkerProcess(
        {
            **aws.worker_env(engine.url, imds.url),
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ENDPOINT_URL_AUTO_SCALING": autoscaling.url,
        }
    ).started()
    yield aws
    process.kill()
    imds.close()
    autoscaling.close()


def client(service: str, moto_url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def fleet(moto_url: str, request: pytest.FixtureRequest) -> list[str]:
    """Two Auto Scaling groups on moto, each at its desired capacity of one."""
    ec2, autoscaling = client("ec2", moto_url), client("autoscaling", moto_url)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    suffix = request.node.name[-40:].replace("[", "-").replace("]", "")
    template = ec2.create_launch_template(
        LaunchTemplateName=f"lt-{suffix}", LaunchTemplateData={"ImageId": image, "InstanceType": "g6.xlarge"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    names = [f"llm-test-chat-od-{suffix}", f"llm-test-chat-spot-{suffix}"]
    for name in names:
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": template},
            MinSize=0,
            MaxSize=2,
            DesiredCapacity=1,
            AvailabilityZones=[f"{REGION}a"],
        )
    return names


@pytest.fixture
def alarms(moto_url: str, request: pytest.FixtureRequest) -> list[str]:
    cloudwatch = client("cloudwatch", moto_url)
    names = [f"llm-test-chat-{kind}-{request.node.name[-30:]}" for kind in ("errors", "latency")]
    for name in names:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_Target_5XX_Count",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test")
    return names


def outputs(aws: AwsStack, groups: list[str] | None = None, alarm_names: list[str] | None = None) -> dict[str, Any]:
    model: dict[str, Any] = {"queueUrl": aws.queue_url, "deadLetterQueueUrl": aws.dlq_url}
    if groups is not None:
        model["autoScalingGroupNames"] = groups
    if alarm_names is not None:
        model["alarmNames"] = alarm_names
    return {"resultsBucket": aws.bucket, "models": {MODEL: model}}


def smoke_cli(
    values: dict[str, Any], tmp_path: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(values))
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "smoke", "dev", "--outputs", str(path), *args],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_healthy_stack_passes_with_one_line_per_model(
    worker: AwsStack, fleet: list[str], alarms: list[str], aws_env: dict[str, str], tmp_path: Path
) -> None:
    result = smoke_cli(outputs(worker, fleet, alarms), tmp_path, aws_env, "--timeout", "30")

    assert result.returncode == 0, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("chat: ok | request: answered in ")
    assert f"capacity: {fleet[0]} 1/1, {fleet[1]} 1/1 healthy in service/desired" in line
    assert "alarms: none of 2 in ALARM" in line


def test_smoke_actions_name_every_call_a_smoke_test_makes(
    worker: AwsStack, fleet: list[str], alarms: list[str], aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMOKE_ACTIONS is what the deploy role is checked against (tests/bootstrap): it must
    name every AWS call a passing smoke test makes, as IAM actions."""
    calls: set[str] = set()
    make_api_call = BaseClient._make_api_call

    def recording(client: Any, operation: str, params: Any) -> Any:
        calls.add(f"{client.meta.service_model.service_name}:{operation}")
        return make_api_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    report = run_smoke(StackOutputs(outputs(worker, fleet, alarms)), timeout_seconds=30)

    assert report.ok, report.lines()
    # s3:ListBucket is no call: S3 checks it when GetObject asks for a key not written yet.
    assert calls == set(SMOKE_ACTIONS) - {"s3:ListBucket"}


def test_a_model_answering_with_an_error_fails_with_the_engine_message(
    worker: AwsStack,
    engine: FakeEngine,
    fleet: list[str],
    alarms: list[str],
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    engine.fail_next(tgi_error(422, "Input validation error: `inputs` must have less than 4096 tokens"))

    result = smoke_cli(outputs(worker, fleet, alarms), tmp_path, aws_env, "--timeout", "30")

    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("chat: FAILED | request failed: the model answered with an error")
    assert "engine HTTP 422" in line
    assert "must have less than 4096 tokens" in line


def test_a_model_that_does_not_answer_fails_at_the_timeout(
    moto_url: str, fleet: list[str], alarms: list[str], aws_env: dict[str, str]
) -> None:
    silent = AwsStack.create(moto_url)  # no worker serves this queue

    report = run_smoke(StackOutputs(outputs(silent, fleet, alarms)), timeout_seconds=1.5)

    assert not report.ok
    [line] = report.lines()
    assert line.startswith("chat: FAILED | request failed: no answer within 1.5 s (request smoke-")


def test_an_alarm_in_alarm_fails_and_is_named(
    worker: AwsStack, fleet: list[str], alarms: list[str], moto_url: str, aws_env: dict[str, str]
) -> None:
    client("cloudwatch", moto_url).set_alarm_state(AlarmName=alarms[0], StateValue="ALARM", StateReason="5xx")

    report = run_smoke(StackOutputs(outputs(worker, fleet, alarms)), timeout_seconds=30)

    assert not report.ok
    assert f"alarms failed: in ALARM: {alarms[0]}" in report.lines()[0]


def test_a_fleet_short_of_its_desired_capacity_fails(
    worker: AwsStack, fleet: list[str], moto_url: str, aws_env: dict[str, str]
) -> None:
    autoscaling = client("autoscaling", moto_url)
    [instance] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[fleet[1]])["AutoScalingGroups"][0][
        "Instances"
    ]
    autoscaling.set_instance_health(InstanceId=instance["InstanceId"], HealthStatus="Unhealthy")

    report = run_smoke(StackOutputs(outputs(worker, fleet)), timeout_seconds=30, capacity_wait_seconds=0)

    assert not report.ok
    assert f"capacity failed: {fleet[0]} 1/1, {fleet[1]} 0/1 healthy in service/desired after 0 s" in report.lines()[0]


def test_checks_the_outputs_give_no_resource_for_are_skipped_and_said_so(
    worker: AwsStack, aws_env: dict[str, str]
) -> None:
    report = run_smoke(StackOutputs(outputs(worker)), timeout_seconds=30)

    assert report.ok
    line = report.lines()[0]
    assert "capacity skipped: the outputs name no Auto Scaling groups (autoScalingGroupNames)" in line
    assert "alarms skipped: the outputs name no alarms (alarmNames)" in line


def test_a_model_with_every_check_skipped_fails(aws_env: dict[str, str]) -> None:
    report = run_smoke(StackOutputs({"models": {"chat": {"url": "http://x/models/chat/"}}}), timeout_seconds=1)

    assert not report.ok
    line = report.lines()[0]
    assert line.startswith("chat: FAILED | request skipped: the outputs name no queueUrl")
    assert line.endswith("checks failed: every check was skipped: nothing was verified")


def test_outputs_without_models_fail(aws_env: dict[str, str]) -> None:
    report = run_smoke(StackOutputs({"resultsBucket": "b"}))
    assert not report.ok
    assert report.lines() == ["no models in the stack's outputs: nothing to smoke-test (FAILED)"]
