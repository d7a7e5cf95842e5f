"""Waiting for a rollout: the instance refreshes that ``pulumi up`` starts and does not wait for.

A ``pulumi up`` that changes a model's launch template starts an instance refresh on each of
the model's Auto Scaling groups and returns at once (docs/cicd.md, "Waiting for the
rollout"). This polls ``DescribeInstanceRefreshes`` for every group until none is still
running, then judges the latest refresh of each group:

- ``Successful``: the new version serves;
- ``RollbackSuccessful``: the new version failed (an alarm fired, or instances did not become
  healthy) and AWS put the previous one back. The fleet serves, but not what was deployed:
  a failed rollout, reported as such;
- ``Failed``, ``Cancelled``, ``RollbackFailed``: failed;
- no refresh since the deploy started: nothing rolled (the launch template did not change).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from components import _events

RUNNING = _events.REFRESH_RUNNING
SUCCESSFUL = "Successful"
ROLLED_BACK = "RollbackSuccessful"
POLL_SECONDS = 30.0
"""Between two looks at the refreshes: they move in minutes (instance warm-up, checkpoints)."""
MAX_RECORDS = 100
"""DescribeInstanceRefreshes returns at most 100 refreshes per call (API reference)."""
ROLLOUT_ACTIONS: Mapping[str, str] = {
    "autoscaling:DescribeInstanceRefreshes": "*",
    "sagemaker:DescribeEndpoint": "endpoint",
}
"""Every IAM action ``wait_for_rollout`` and ``endpoint_problem`` need, and what they act on
(``*``: AWS authorizes it on ``*`` only; ``endpoint``: the models' SageMaker endpoints).
The deploy workflow waits with the stack's deploy role, which must grant each
(tests/bootstrap)."""


@dataclass(frozen=True)
class GroupRollout:
    group: str
    refresh_id: str | None
    """None: no refresh of this group (since the deploy started)."""
    status: str | None
    reason: str = ""
    percentage: int | None = None

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    @property
    def ok(self) -> bool:
        return self.refresh_id is None or self.status == SUCCESSFUL

    def describe(self) -> str:
        if self.refresh_id is None:
            return f"{self.group}: no instance refresh: nothing to roll"
        progress = f", {self.percentage}%" if self.percentage is not None else ""
        reason = f": {self.reason}" if self.reason else ""
        if self.status == SUCCESSFUL:
            return f"{self.group}: refresh {self.refresh_id} Successful"
        if self.status == ROLLED_BACK:
            return (
                f"{self.group}: refresh {self.refresh_id} FAILED and was ROLLED BACK by AWS (RollbackSuccessful)"
                f"{reason}. The group runs the previous version, not the one deployed"
            )
        if self.running:
            return f"{self.group}: refresh {self.refresh_id} still {self.status}{progress}"
        return f"{self.group}: refresh {self.refresh_id} {self.status}{reason}"


def _reason(refresh: Mapping[str, Any]) -> str:
    rollback = refresh.get("RollbackDetails") or {}
    parts = [str(refresh.get("StatusReason") or ""), str(rollback.get("RollbackReason") or "")]
    return "; ".join(p for p in parts if p)


def latest_refresh(client: Any, group: str, since: datetime | None = None) -> GroupRollout:
    """The most recent refresh of ``group`` (started at or after ``since``, when given)."""
    refreshes = client.describe_instance_refreshes(AutoScalingGroupName=group, MaxRecords=MAX_RECORDS)[
        "InstanceRefreshes"
    ]
    if since is not None:
        refreshes = [r for r in refreshes if "StartTime" not in r or r["StartTime"] >= since]
    if not refreshes:
        return GroupRollout(group, None, None)
    # A refresh not started yet has no StartTime: it is the newest.
    newest = max(refreshes, key=lambda r: (r.get("StartTime") is None, r.get("StartTime") or datetime.min))
    return GroupRollout(
        group,
        refresh_id=newest["InstanceRefreshId"],
        status=newest["Status"],
        reason=_reason(newest),
        percentage=newest.get("PercentageComplete"),
    )


@dataclass(frozen=True)
class RolloutResult:
    groups: list[GroupRollout]
    timed_out: bool

    @property
    def ok(self) -> bool:
        return not self.timed_out and all(g.ok for g in self.groups)

    @property
    def rolled_back(self) -> list[GroupRollout]:
        return [g for g in self.groups if g.status == ROLLED_BACK]


def wait_for_rollout(
    client: Any,
    groups: Sequence[str],
    *,
    timeout_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    since: datetime | None = None,
    report: Callable[[GroupRollout], None] = lambda _g: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutResult:
    """Poll until no group's latest refresh is running, or ``timeout_seconds`` pass.
    ``report`` hears each group's state whenever it changes."""
    deadline = clock() + timeout_seconds
    seen: dict[str, GroupRollout] = {}
    while True:
        current = [latest_refresh(client, g, since) for g in groups]
        for state in current:
            if seen.get(state.group) != state:
                report(state)
                seen[state.group] = state
        if not any(s.running for s in current):
            return RolloutResult(current, timed_out=False)
        left = deadline - clock()
        if left <= 0:
            return RolloutResult(current, timed_out=True)
        sleep(min(poll_seconds, left))


ENDPOINT_SERVING = frozenset({"InService"})
ENDPOINT_MOVING = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"})


def endpoint_problem(client: Any, endpoint: str, deployed_config: str) -> str | None:
    """Why a SageMaker model's endpoint does not run what the stack deployed, or None.

    The provider can record a deployment that SageMaker rolled back as a success
    (terraform-provider-aws #48997): the endpoint then runs the previous configuration
    while the stack's outputs name the new one. Comparing the two finds it
    (docs/reference.md#sagemaker)."""
    described = client.describe_endpoint(EndpointName=endpoint)
    status = described.get("EndpointStatus")
    running = described.get("EndpointConfigName")
    if status not in ENDPOINT_SERVING:
        reason = described.get("FailureReason")
        return f"{endpoint} is {status}" + (f": {reason}" if reason else "")
    if running != deployed_config:
        return (
            f"{endpoint} runs the configuration {running}, not {deployed_config} that the stack deployed: "
            "SageMaker rolled the deployment back (its alarms fired or the new instances failed); "
            "the stack's state holds the new version: redeploy the last good commit"
        )
    return None
