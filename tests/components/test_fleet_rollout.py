"""The rollout resource's provider: what `pulumi up` asks of the Auto Scaling API.

moto has no instance-refresh API, so the calls go to botocore's Stubber, which checks each
request against AWS's own API model (names, types, required members) and answers as AWS
would. The provider's logic runs for real."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import dill
import pytest
from botocore.stub import Stubber
from pulumi.dynamic.dynamic import serialize_provider

from components.ec2.fleet_rollout import RefreshProvider, desired_configuration, start_refresh

# StartInstanceRefresh's DesiredConfiguration, as AWS's API names it (the Stubber checks it
# against AWS's model too).
DESIRED_V1 = {"LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "1"}}
DESIRED_V2 = {"LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "Version": "2"}}
PREFERENCES = {
    "MinHealthyPercentage": 100,
    "MaxHealthyPercentage": 200,
    "InstanceWarmup": 900,
    "CheckpointPercentages": [50, 100],
    "CheckpointDelay": 900,
    "SkipMatching": True,
    "AutoRollback": True,
    "AlarmSpecification": {"Alarms": ["llm-dev-chat-target-5xx-rate"]},
}


def props(desired: dict[str, Any], group: str = "llm-dev-chat-od-1", **prefs: Any) -> dict[str, Any]:
    return {
        "region": "us-east-1",
        "groupName": group,
        "desiredConfiguration": desired,
        "preferences": {**PREFERENCES, **prefs},
    }


@pytest.fixture
def autoscaling() -> Any:
    client = boto3.client(
        "autoscaling", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def start_params(desired: dict[str, Any], group: str = "llm-dev-chat-od-1") -> dict[str, Any]:
    return {
        "AutoScalingGroupName": group,
        "Strategy": "Rolling",
        "DesiredConfiguration": desired,
        "Preferences": PREFERENCES,
    }


def described(group: str, **configuration: Any) -> dict[str, Any]:
    """DescribeAutoScalingGroups' answer for one group running ``configuration``."""
    return {
        "AutoScalingGroups": [
            {
                "AutoScalingGroupName": group,
                "MinSize": 0,
                "MaxSize": 2,
                "DesiredCapacity": 1,
                "DefaultCooldown": 300,
                "AvailabilityZones": ["us-east-1a"],
                "HealthCheckType": "ELB",
                "CreatedTime": "2026-11-01T00:00:00Z",
                **configuration,
            }
        ]
    }


def running(version: str) -> dict[str, Any]:
    return {"LaunchTemplate": {"LaunchTemplateId": "lt-0abc", "LaunchTemplateName": "chat-lt", "Version": version}}


def test_creating_the_resource_for_a_group_just_created_starts_no_refresh(autoscaling: Any) -> None:
    # The group was just created at this version: there is nothing to roll.
    client, stubber = autoscaling
    group = {"AutoScalingGroupNames": ["llm-dev-chat-od-1"]}
    stubber.add_response("describe_auto_scaling_groups", described("llm-dev-chat-od-1", **running("1")), group)
    provider = RefreshProvider(lambda region, profile: client)
    result = provider.create(props(DESIRED_V1))
    assert result.id == "llm-dev-chat-od-1"
    assert result.outs["refreshId"] == ""


def test_creating_the_resource_for_a_group_on_an_older_version_rolls_it(autoscaling: Any) -> None:
    # A stack deployed before its groups had rollouts: the groups ignore version changes, so
    # without this the new launch template would never reach them.
    client, stubber = autoscaling
    group = {"AutoScalingGroupNames": ["llm-dev-chat-od-1"]}
    stubber.add_response("describe_auto_scaling_groups", described("llm-dev-chat-od-1", **running("1")), group)
    stubber.add_response("start_instance_refresh", {"InstanceRefreshId": "r-2"}, start_params(DESIRED_V2))
    provider = RefreshProvider(lambda region, profile: client)
    assert provider.create(props(DESIRED_V2)).outs["refreshId"] == "r-2"


def test_creating_the_resource_compares_a_spot_groups_instance_types_too(autoscaling: Any) -> None:
    client, stubber = autoscaling
    distribution = {"OnDemandBaseCapacity": 0}
    desired = desired_configuration("lt-0abc", "3", ("g6.xlarge", "g5.xlarge"), distribution)
    policy = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-0abc", "Version": "3"},
            "Overrides": [{"InstanceType": "g6.xlarge"}],
        },
        "InstancesDistribution": distribution,
    }
    group = {"AutoScalingGroupNames": ["llm-dev-chat-spot-1"]}
    stubber.add_response(
        "describe_auto_scaling_groups", described("llm-dev-chat-spot-1", MixedInstancesPolicy=policy), group
    )
    stubber.add_response(
        "start_instance_refresh", {"InstanceRefreshId": "r-3"}, start_params(desired, "llm-dev-chat-spot-1")
    )
    provider = RefreshProvider(lambda region, profile: client)
    assert provider.create(props(desired, "llm-dev-chat-spot-1")).outs["refreshId"] == "r-3"


def test_a_new_version_starts_a_refresh_with_it_as_the_desired_configuration(autoscaling: Any) -> None:
    client, stubber = autoscaling
    stubber.add_response("start_instance_refresh", {"InstanceRefreshId": "r-2"}, start_params(DESIRED_V2))
    provider = RefreshProvider(lambda region, profile: client)
    result = provider.update("llm-dev-chat-od-1", props(DESIRED_V1), props(DESIRED_V2))
    assert result.outs["refreshId"] == "r-2"


def test_the_spot_groups_desired_configuration_is_its_whole_mixed_instances_policy(autoscaling: Any) -> None:
    client, stubber = autoscaling
    desired = desired_configuration(
        "lt-0abc",
        "7",
        ("g6.xlarge", "g5.xlarge"),
        {
            "OnDemandBaseCapacity": 0,
            "OnDemandPercentageAboveBaseCapacity": 0,
            "SpotAllocationStrategy": "price-capacity-optimized",
        },
    )
    stubber.add_response(
        "start_instance_refresh", {"InstanceRefreshId": "r-7"}, start_params(desired, "llm-dev-chat-spot-1")
    )
    old = desired_configuration("lt-0abc", "6", ("g6.xlarge",), {})
    provider = RefreshProvider(lambda region, profile: client)
    provider.update("x", props(old, "llm-dev-chat-spot-1"), props(desired, "llm-dev-chat-spot-1"))


def test_desired_configurations_are_the_launch_template_or_the_whole_mixed_instances_policy() -> None:
    assert desired_configuration("lt-0abc", "2", (), {}) == DESIRED_V2
    distribution = {"OnDemandBaseCapacity": 0, "SpotAllocationStrategy": "price-capacity-optimized"}
    assert desired_configuration("lt-0abc", "7", ("g6.xlarge", "g5.xlarge"), distribution) == {
        "MixedInstancesPolicy": {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-0abc", "Version": "7"},
                "Overrides": [{"InstanceType": "g6.xlarge"}, {"InstanceType": "g5.xlarge"}],
            },
            "InstancesDistribution": distribution,
        }
    }


def test_a_change_of_preferences_alone_starts_no_refresh(autoscaling: Any) -> None:
    client, _ = autoscaling
    provider = RefreshProvider(lambda region, profile: client)
    result = provider.update("x", {**props(DESIRED_V1), "refreshId": "r-1"}, props(DESIRED_V1, InstanceWarmup=1200))
    assert result.outs["refreshId"] == "r-1"
    assert result.outs["preferences"]["InstanceWarmup"] == 1200


def test_diff_sees_changes_and_replaces_only_for_another_group() -> None:
    provider = RefreshProvider()
    assert provider.diff("x", props(DESIRED_V1), props(DESIRED_V1)).changes is False
    changed = provider.diff("x", props(DESIRED_V1), props(DESIRED_V2))
    assert (changed.changes, changed.replaces) == (True, [])
    moved = provider.diff("x", props(DESIRED_V1), props(DESIRED_V1, group="llm-dev-chat-od-2"))
    assert (moved.changes, moved.replaces, moved.delete_before_replace) == (True, ["groupName"], False)


def test_a_running_refresh_is_cancelled_then_the_new_one_started(autoscaling: Any) -> None:
    client, stubber = autoscaling
    group = {"AutoScalingGroupName": "llm-dev-chat-od-1"}
    stubber.add_client_error("start_instance_refresh", "InstanceRefreshInProgress", "in progress", 400)
    stubber.add_response("cancel_instance_refresh", {"InstanceRefreshId": "r-1"}, group)
    for status in ("Cancelling", "Cancelled"):
        stubber.add_response(
            "describe_instance_refreshes",
            {"InstanceRefreshes": [{"InstanceRefreshId": "r-1", "Status": status}]},
            {**group, "MaxRecords": 1},
        )
    stubber.add_response("start_instance_refresh", {"InstanceRefreshId": "r-2"}, start_params(DESIRED_V2))
    pauses: list[float] = []
    assert start_refresh(client, "llm-dev-chat-od-1", DESIRED_V2, PREFERENCES, sleep=pauses.append) == "r-2"
    assert pauses == [15]


def test_a_rollback_that_cannot_be_cancelled_is_waited_for(autoscaling: Any) -> None:
    client, stubber = autoscaling
    group = {"AutoScalingGroupName": "llm-dev-chat-od-1"}
    stubber.add_client_error("start_instance_refresh", "InstanceRefreshInProgress", "in progress", 400)
    stubber.add_client_error("cancel_instance_refresh", "ValidationError", "cannot cancel a rollback", 400, group)
    for status in ("RollbackInProgress", "RollbackSuccessful"):
        stubber.add_response(
            "describe_instance_refreshes",
            {"InstanceRefreshes": [{"InstanceRefreshId": "r-1", "Status": status}]},
            {**group, "MaxRecords": 1},
        )
    stubber.add_response("start_instance_refresh", {"InstanceRefreshId": "r-2"}, start_params(DESIRED_V2))
    assert start_refresh(client, "llm-dev-chat-od-1", DESIRED_V2, PREFERENCES, sleep=lambda _: None) == "r-2"


def test_a_refresh_that_will_not_stop_fails_the_update_with_what_to_do(autoscaling: Any) -> None:
    client, stubber = autoscaling
    group = {"AutoScalingGroupName": "llm-dev-chat-od-1"}
    stubber.add_client_error("start_instance_refresh", "InstanceRefreshInProgress", "in progress", 400)
    stubber.add_response("cancel_instance_refresh", {"InstanceRefreshId": "r-1"}, group)
    stubber.add_response(
        "describe_instance_refreshes",
        {"InstanceRefreshes": [{"InstanceRefreshId": "r-1", "Status": "Cancelling"}]},
        {**group, "MaxRecords": 1},
    )
    with pytest.raises(RuntimeError, match="still running after 0 s; run `pulumi up` again"):
        start_refresh(client, "llm-dev-chat-od-1", DESIRED_V2, PREFERENCES, sleep=lambda _: None, wait_seconds=0)


def test_other_errors_are_not_swallowed(autoscaling: Any) -> None:
    from botocore.exceptions import ClientError

    client, stubber = autoscaling
    stubber.add_client_error("start_instance_refresh", "AccessDenied", "not allowed", 403)
    with pytest.raises(ClientError, match="AccessDenied"):
        start_refresh(client, "llm-dev-chat-od-1", DESIRED_V2, PREFERENCES)


def test_the_provider_survives_pulumis_serialization() -> None:
    # `pulumi up` runs the provider from its serialized form, in another process.
    provider = dill.loads(base64.b64decode(serialize_provider(RefreshProvider())))
    assert isinstance(provider, RefreshProvider)
    assert provider.diff("x", props(DESIRED_V1), props(DESIRED_V2)).changes is True


def test_the_plan_shows_the_serialized_provider_as_a_secret(dev_plan: Any) -> None:
    rollout = dev_plan.to_json()["resources"]
    [od] = [r for r in rollout if r["name"] == "chat-on-demand-rollout"]
    assert od["inputs"]["__provider"] == "[secret]"
