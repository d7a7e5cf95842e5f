"""The smoke test of a deployed stack, through AWS's APIs only (no network path to the
internal load balancer is needed, so it runs on a GitHub-hosted runner).

Per model, from the stack's outputs:

- **request**: one chat request on the model's queue (``model_server.client``), waiting for
  its result in the results bucket: queue, worker, engine, IAM and bucket all work;
- **capacity**: every one of the model's Auto Scaling groups has as many healthy in-service
  instances as it desires;
- **alarms**: none of the model's alarms is in ALARM.

A check whose resource the outputs do not name is skipped, and the summary says so; a model
with no check run at all fails (nothing was verified). One line per model; ``ok`` is true
only when every model passed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from infra.stack_outputs import StackOutputs

if TYPE_CHECKING:
    from model_server.client import QueueClient
    from model_server.messages import Result

# The client, its messages and botocore are imported where a smoke test runs, not with this
# module: the CLI reads this module's defaults for every command, `plan` included.

Status = Literal["ok", "failed", "skipped"]

PROMPT = "Reply with the single word: ready"
MAX_TOKENS = 16
"""Enough for a one-word answer; a smoke test should not cost a long generation."""
ALARM_NAMES_PER_CALL = 100
"""DescribeAlarms accepts at most 100 alarm names (API reference)."""
CAPACITY_POLL_SECONDS = 10.0
ANSWER_TIMEOUT_SECONDS = 900.0
"""How long each model's answer is waited for: a fleet at zero must first start an instance
(about 6 to 11 minutes from a scale-out to a healthy target: benchmarks/cold_start.md)."""
CAPACITY_WAIT_SECONDS = 300.0
"""How long the fleets get to reach their desired capacity after the deploy's rollout."""

SMOKE_ACTIONS: Mapping[str, str] = {
    "sqs:SendMessage": "queue",
    "s3:GetObject": "result",
    "s3:ListBucket": "results-bucket",
    "autoscaling:DescribeAutoScalingGroups": "*",
    "cloudwatch:DescribeAlarms": "alarm",
}
"""Every IAM action ``run_smoke`` needs, and what it acts on: ``queue`` a model's request
queue (``QueueClient.submit``), ``result`` its result object, ``results/<model>/<id>.json``
in the results bucket (``QueueClient.get``), ``results-bucket`` the bucket itself (no call:
without s3:ListBucket S3 answers 403, not 404, for a result not written yet), ``alarm`` a
model's alarm, ``*`` nothing narrower (AWS authorizes it on ``*`` only). No KMS: the queues
use SSE-SQS and the bucket SSE-S3. The deploy workflow runs the smoke test with the stack's
deploy role, which must grant each (tests/bootstrap); tests/infra/test_smoke.py records the
calls a smoke test makes and checks this list names them all."""


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    def __str__(self) -> str:
        return f"{self.name} {self.status}: {self.detail}" if self.status != "ok" else f"{self.name}: {self.detail}"


@dataclass
class ModelSmoke:
    model: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return any(c.status == "ok" for c in self.checks) and not any(c.status == "failed" for c in self.checks)

    def line(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        checks = self.checks or [Check("checks", "failed", "the outputs name nothing to check")]
        if not any(c.status == "ok" for c in checks) and not any(c.status == "failed" for c in checks):
            checks = [*checks, Check("checks", "failed", "every check was skipped: nothing was verified")]
        return f"{self.model}: {verdict} | " + " | ".join(str(c) for c in checks)


@dataclass
class SmokeReport:
    models: list[ModelSmoke]

    @property
    def ok(self) -> bool:
        return bool(self.models) and all(m.ok for m in self.models)

    def lines(self) -> list[str]:
        if not self.models:
            return ["no models in the stack's outputs: nothing to smoke-test (FAILED)"]
        return [m.line() for m in self.models]


# ----------------------------------------------------------------------------- request


def _answer(result: Result) -> str:
    try:
        content = result.response["choices"][0]["message"]["content"] if result.response else None
    except (KeyError, IndexError, TypeError):
        content = None
    return content if isinstance(content, str) else ""


def _judge(result: Result, seconds: float) -> Check:
    from model_server.messages import ResultStatus

    if result.status is ResultStatus.FAILED and result.error is not None:
        status = f", engine HTTP {result.error.engine_status}" if result.error.engine_status else ""
        return Check(
            "request",
            "failed",
            f"the model answered with an error ({result.error.kind.value}{status}): {result.error.message}",
        )
    answer = _answer(result)
    if not answer.strip():
        return Check("request", "failed", f"the model's answer is empty after {seconds:.1f} s")
    shown = answer.strip().replace("\n", " ")[:40]
    return Check("request", "ok", f"answered in {seconds:.1f} s ({shown!r})")


def _request_checks(
    outputs: StackOutputs, models: Sequence[str], timeout_seconds: float, prompt: str
) -> dict[str, Check]:
    """Send one request per model at once, then wait for all of them on one deadline."""
    from model_server.client import QueueClient, ResultsTimeout, chat

    bucket = outputs.results_bucket
    checks: dict[str, Check] = {}
    sent: dict[str, tuple[QueueClient, str, float]] = {}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name in models:
        queue_url = outputs.models()[name].get("queueUrl")
        if not isinstance(queue_url, str) or not queue_url or bucket is None:
            missing = "queueUrl" if not queue_url else "resultsBucket"
            checks[name] = Check("request", "skipped", f"the outputs name no {missing}")
            continue
        client = QueueClient(queue_url, bucket)
        request = chat(
            name,
            prompt,
            request_id=f"smoke-{stamp}-{uuid.uuid4().hex[:8]}",
            metadata={"purpose": "smoke-test"},
            max_tokens=MAX_TOKENS,
        )
        try:
            client.submit(request)
        except Exception as e:  # an AWS error names the cause (access, queue missing...)
            checks[name] = Check("request", "failed", f"could not queue the request: {e}")
            continue
        sent[name] = (client, request.id, time.monotonic())
    deadline = time.monotonic() + timeout_seconds

    def wait(name: str) -> Check:
        client, request_id, started = sent[name]
        try:
            result = client.wait(name, [request_id], timeout_seconds=max(0.0, deadline - time.monotonic()))
        except ResultsTimeout:
            return Check("request", "failed", f"no answer within {timeout_seconds:g} s (request {request_id})")
        except Exception as e:
            return Check("request", "failed", f"could not read the result: {e}")
        return _judge(result[request_id], time.monotonic() - started)

    if sent:
        with ThreadPoolExecutor(max_workers=len(sent)) as pool:
            checks.update(zip(sent, pool.map(wait, sent), strict=True))
    return checks


# ---------------------------------------------------------------------------- capacity


def _capacity(autoscaling: Any, groups: Sequence[str]) -> tuple[bool, str]:
    found = {
        g["AutoScalingGroupName"]: g
        for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            AutoScalingGroupNames=list(groups)
        )
        for g in page["AutoScalingGroups"]
    }
    parts, ok = [], True
    for name in groups:
        group = found.get(name)
        if group is None:
            parts.append(f"{name} not found")
            ok = False
            continue
        healthy = sum(
            1 for i in group["Instances"] if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"
        )
        desired = int(group["DesiredCapacity"])
        ok = ok and healthy >= desired
        parts.append(f"{name} {healthy}/{desired}")
    return ok, ", ".join(parts)


def _capacity_check(
    autoscaling: Any, groups: Sequence[str], wait_seconds: float, sleep: Callable[[float], None]
) -> Check:
    if not groups:
        return Check("capacity", "skipped", "the outputs name no Auto Scaling groups (autoScalingGroupNames)")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            ok, detail = _capacity(autoscaling, groups)
        except Exception as e:
            return Check("capacity", "failed", f"could not describe the groups: {e}")
        if ok:
            return Check("capacity", "ok", f"{detail} healthy in service/desired")
        if time.monotonic() >= deadline:
            return Check("capacity", "failed", f"{detail} healthy in service/desired after {wait_seconds:g} s")
        sleep(CAPACITY_POLL_SECONDS)


# ------------------------------------------------------------------------------ alarms


def _alarm_check(cloudwatch: Any, names: Sequence[str]) -> Check:
    if not names:
        return Check("alarms", "skipped", "the outputs name no alarms (alarmNames)")
    found: dict[str, Mapping[str, Any]] = {}
    try:
        for i in range(0, len(names), ALARM_NAMES_PER_CALL):
            chunk = list(names[i : i + ALARM_NAMES_PER_CALL])
            for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=chunk):
                found.update({a["AlarmName"]: a for a in page["MetricAlarms"]})
    except Exception as e:
        return Check("alarms", "failed", f"could not describe the alarms: {e}")
    firing = sorted(n for n, a in found.items() if a["StateValue"] == "ALARM")
    missing = sorted(set(names) - set(found))
    if firing or missing:
        parts = [f"in ALARM: {', '.join(firing)}"] if firing else []
        parts += [f"not found: {', '.join(missing)}"] if missing else []
        return Check("alarms", "failed", "; ".join(parts))
    return Check("alarms", "ok", f"none of {len(names)} in ALARM")


# --------------------------------------------------------------------------------- all


def run_smoke(
    outputs: StackOutputs,
    *,
    timeout_seconds: float = ANSWER_TIMEOUT_SECONDS,
    capacity_wait_seconds: float = CAPACITY_WAIT_SECONDS,
    prompt: str = PROMPT,
    sleep: Callable[[float], None] = time.sleep,
) -> SmokeReport:
    """Every check of every model in ``outputs``; AWS access is boto3's usual chain
    (``AWS_ENDPOINT_URL`` points it at an emulator)."""
    from botocore.config import Config

    from model_server.queue_url import session_for

    models = outputs.models()
    if not models:
        return SmokeReport([])
    session = session_for(outputs.first_queue_url())
    config = Config(retries={"mode": "standard"})
    autoscaling = session.client("autoscaling", config=config)
    cloudwatch = session.client("cloudwatch", config=config)
    requests = _request_checks(outputs, list(models), timeout_seconds, prompt)
    report = []
    for name, model in models.items():
        smoke = ModelSmoke(name, [requests[name]])
        smoke.checks.append(
            _capacity_check(
                autoscaling, StackOutputs.names(model, "autoScalingGroupNames"), capacity_wait_seconds, sleep
            )
        )
        smoke.checks.append(_alarm_check(cloudwatch, StackOutputs.names(model, "alarmNames")))
        report.append(smoke)
    return SmokeReport(report)
