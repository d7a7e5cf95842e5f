"""Rollouts of a GPU fleet that can really roll back: an instance refresh started with a
desired configuration while the Auto Scaling group keeps its current one.

Why not the provider's own ``instance_refresh`` block: it writes the new launch-template
version to the group (UpdateAutoScalingGroup) before it starts the refresh, so AWS's
automatic rollback "returns" to the new version (terraform-provider-aws issue 34189).
AWS rolls back to "the configuration that you last saved on the Auto Scaling group before
starting the instance refresh", and only when the refresh was started with a desired
configuration naming a numbered launch-template version (docs/reference.md#instance-refresh).

So the groups ignore changes to their launch-template version (and, for the spot group,
its instance-type overrides), and one ``InstanceRefresh`` resource per group starts the
refresh with the new version as its desired configuration:
- on success AWS writes the desired configuration to the group itself;
- if one of the model's alarms fires (or instances fail to launch), AWS replaces what it
  deployed so far with instances of the group's saved, previous version.

A rollout resource created for a group that already runs another configuration (a stack
deployed before its groups had one) starts a refresh too, so an upgrade reaches the fleet.

``pulumi up`` returns once the refresh has started; the refresh then runs in AWS
(launching before terminating, with checkpoints). A refresh still running when the next
change arrives is cancelled and a new one started, as the provider's own block does.

The resource runs in the process that runs ``pulumi up`` and calls the Auto Scaling API
with the default AWS credential chain (environment, profile, role), as the AWS provider
does by default; ``aws:profile`` in stack config is honoured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.dynamic

from components import _events

REFRESH_IN_PROGRESS = _events.REFRESH_RUNNING
MAX_ROLLBACK_ALARMS = 10
"""Alarms an instance refresh's AlarmSpecification takes (docs/reference.md#instance-refresh)."""
CANCEL_WAIT_SECONDS = 900
"""Longest to wait for a running refresh to stop before starting the next one."""
POLL_SECONDS = 15


@dataclass(frozen=True, kw_only=True)
class RolloutPreferences:
    """How a refresh replaces instances (StartInstanceRefresh ``Preferences``)."""

    instance_warmup_seconds: int
    """How long a new instance warms up before the next is replaced: the model-load time."""
    checkpoint_delay_seconds: int
    """Pause at each checkpoint, so the alarms see the new instances serve."""
    alarm_names: pulumi.Input[Sequence[str]]
    """Alarms that stop the refresh and roll it back (up to ``MAX_ROLLBACK_ALARMS``)."""
    min_healthy_percentage: int = 100
    """Launch before terminating: never below the capacity being served."""
    max_healthy_percentage: int = 200
    checkpoint_percentages: Sequence[int] = (50, 100)


@dataclass(frozen=True, kw_only=True)
class GroupRolloutArgs:
    """The desired configuration of one group: its launch template version and, for a group
    with a mixed instances policy, the rest of that policy."""

    region: pulumi.Input[str]
    group_name: pulumi.Input[str]
    launch_template_id: pulumi.Input[str]
    launch_template_version: pulumi.Input[str]
    """A numbered version: AWS cannot roll back to ``$Latest`` or ``$Default``."""
    preferences: RolloutPreferences
    instance_types: Sequence[str] = ()
    """The spot group's instance-type overrides; empty for a group with one launch template."""
    instances_distribution: Mapping[str, Any] = field(default_factory=dict)
    """The spot group's InstancesDistribution (AWS API names); empty for a plain group."""


class InstanceRefresh(pulumi.dynamic.Resource, module="llm-serving", name="InstanceRefresh"):
    """Starts an instance refresh of one group whenever its desired configuration changes."""

    refresh_id: pulumi.Output[str]
    """The refresh the last change started; empty until a change starts one."""

    def __init__(self, name: str, args: GroupRolloutArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        p = args.preferences
        super().__init__(
            RefreshProvider(),
            name,
            {
                "region": args.region,
                "groupName": args.group_name,
                "desiredConfiguration": pulumi.Output.all(args.launch_template_id, args.launch_template_version).apply(
                    lambda v: desired_configuration(v[0], str(v[1]), args.instance_types, args.instances_distribution)
                ),
                "preferences": pulumi.Output.from_input(p.alarm_names).apply(
                    lambda alarms: preferences(p, list(alarms))
                ),
                "refreshId": None,
            },
            opts,
        )


def desired_configuration(
    template_id: str, version: str, instance_types: Sequence[str], distribution: Mapping[str, Any]
) -> dict[str, Any]:
    """StartInstanceRefresh ``DesiredConfiguration`` (AWS API names)."""
    template = {"LaunchTemplateId": template_id, "Version": version}
    if not instance_types:
        return {"LaunchTemplate": template}
    return {
        "MixedInstancesPolicy": {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": template,
                "Overrides": [{"InstanceType": t} for t in instance_types],
            },
            "InstancesDistribution": dict(distribution),
        }
    }


def preferences(p: RolloutPreferences, alarm_names: list[str]) -> dict[str, Any]:
    """StartInstanceRefresh ``Preferences`` (AWS API names)."""
    if len(alarm_names) > MAX_ROLLBACK_ALARMS:
        raise ValueError(f"an instance refresh rolls back on at most {MAX_ROLLBACK_ALARMS} alarms")
    return {
        "MinHealthyPercentage": p.min_healthy_percentage,
        "MaxHealthyPercentage": p.max_healthy_percentage,
        "InstanceWarmup": p.instance_warmup_seconds,
        "CheckpointPercentages": list(p.checkpoint_percentages),
        "CheckpointDelay": p.checkpoint_delay_seconds,
        # Instances already on the desired configuration stay: a retried rollout resumes.
        "SkipMatching": True,
        "AutoRollback": True,
        "AlarmSpecification": {"Alarms": sorted(alarm_names)},
    }


class RefreshProvider(pulumi.dynamic.ResourceProvider):
    """Create starts a refresh only when the group runs another configuration than the desired
    one (a stack deployed before its groups had a rollout resource: the groups ignore version
    changes, so nothing else would move them); a group just created at that configuration has
    nothing to roll. Update starts a refresh when the desired configuration changed; delete
    does nothing (the group goes with its own resource)."""

    def __init__(self, client_factory: Callable[[str, str | None], Any] | None = None) -> None:
        self._client_factory = client_factory
        self._profile: str | None = None

    def configure(self, req: pulumi.dynamic.ConfigureRequest) -> None:
        self._profile = req.config.get("aws:profile")

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        client = self._client(str(props["region"]))
        group, desired = str(props["groupName"]), props["desiredConfiguration"]
        refresh_id = ""
        if running_configuration(client, group) != configuration_of(desired):
            refresh_id = start_refresh(client, group, desired, props["preferences"])
        return pulumi.dynamic.CreateResult(id_=group, outs={**props, "refreshId": refresh_id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = ["groupName"] if olds.get("groupName") != news.get("groupName") else []
        changed = any(
            olds.get(k) != news.get(k) for k in ("region", "groupName", "desiredConfiguration", "preferences")
        )
        return pulumi.dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        if olds.get("desiredConfiguration") == news["desiredConfiguration"]:
            # Only the preferences changed: they take effect at the next rollout.
            return pulumi.dynamic.UpdateResult(outs={**news, "refreshId": olds.get("refreshId", "")})
        client = self._client(str(news["region"]))
        refresh_id = start_refresh(client, str(news["groupName"]), news["desiredConfiguration"], news["preferences"])
        return pulumi.dynamic.UpdateResult(outs={**news, "refreshId": refresh_id})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None

    def _client(self, region: str) -> Any:
        if self._client_factory is not None:
            return self._client_factory(region, self._profile)
        import boto3  # only `pulumi up` needs it, never the plan

        return boto3.session.Session(profile_name=self._profile, region_name=region).client("autoscaling")


def configuration_of(desired: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """What a rollout moves, from a desired configuration: the launch template, its version,
    and the instance types of a mixed instances policy."""
    if "MixedInstancesPolicy" in desired:
        template = desired["MixedInstancesPolicy"]["LaunchTemplate"]
        spec = template["LaunchTemplateSpecification"]
        types = tuple(sorted(o["InstanceType"] for o in template.get("Overrides", [])))
        return str(spec["LaunchTemplateId"]), str(spec["Version"]), types
    spec = desired["LaunchTemplate"]
    return str(spec["LaunchTemplateId"]), str(spec["Version"]), ()


def running_configuration(client: Any, group: str) -> tuple[str, str, tuple[str, ...]] | None:
    """The same, from the group as AWS has it (DescribeAutoScalingGroups); None when AWS has
    no such group."""
    groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    if not groups:
        return None
    found = groups[0]
    if "MixedInstancesPolicy" in found:
        return configuration_of({"MixedInstancesPolicy": found["MixedInstancesPolicy"]})
    if "LaunchTemplate" in found:
        return configuration_of({"LaunchTemplate": found["LaunchTemplate"]})
    return None


def start_refresh(
    client: Any,
    group: str,
    desired: Mapping[str, Any],
    prefs: Mapping[str, Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
    wait_seconds: float = CANCEL_WAIT_SECONDS,
) -> str:
    """Start a refresh of ``group`` towards ``desired``; a refresh still running is cancelled
    first (or, when it is rolling back and cannot be cancelled, waited for). Returns its id."""
    from botocore.exceptions import ClientError

    def start() -> str:
        response = client.start_instance_refresh(
            AutoScalingGroupName=group, Strategy="Rolling", DesiredConfiguration=desired, Preferences=prefs
        )
        return str(response["InstanceRefreshId"])

    try:
        return start()
    except ClientError as e:
        if e.response["Error"]["Code"] != "InstanceRefreshInProgress":
            raise
    try:
        client.cancel_instance_refresh(AutoScalingGroupName=group)
    except ClientError as e:
        # Nothing to cancel any more, or a rollback in progress (it cannot be cancelled).
        if e.response["Error"]["Code"] not in ("ActiveInstanceRefreshNotFound", "ValidationError"):
            raise
    deadline = time.monotonic() + wait_seconds
    while _running(client, group):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"an instance refresh of {group} is still running after {wait_seconds:.0f} s; "
                "run `pulumi up` again once it has finished"
            )
        sleep(POLL_SECONDS)
    return start()


def _running(client: Any, group: str) -> bool:
    refreshes = client.describe_instance_refreshes(AutoScalingGroupName=group, MaxRecords=1)["InstanceRefreshes"]
    return bool(refreshes) and refreshes[0]["Status"] in REFRESH_IN_PROGRESS
