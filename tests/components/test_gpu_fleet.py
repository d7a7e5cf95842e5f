"""GpuFleet: launch template, two groups, hooks, scaling, spot fallback, rollouts."""

from __future__ import annotations

import json
import math
from typing import Any

import pulumi
import pytest

from components.ec2.gpu_fleet import (
    LAUNCH_HOOK,
    LAUNCH_HOOK_HEARTBEAT_SECONDS,
    TERMINATION_HOOK,
    GpuFleet,
    GpuFleetArgs,
    HubWeights,
    S3Weights,
    estimate_load_seconds,
    root_volume_gib,
)
from components.schedule import Schedule
from infra.plan import Plan, PlannedResource, run_program
from model_server import metrics
from model_server.engines import TGI, EngineSettings, Quantization
from tests.metric_math import evaluate

AMI = "ami-0abc1234def567890"

SETTINGS = EngineSettings(
    model_id="meta-llama/Llama-3.1-8B-Instruct",
    revision="a" * 40,
    served_model_name="chat",
    max_input_tokens=4096,
    max_total_tokens=8192,
    quantization=Quantization.NONE,
    num_shards=1,
    max_concurrent_requests=64,
)


def fleet_args(**changes: Any) -> GpuFleetArgs:
    values: dict[str, Any] = dict(
        model="chat",
        name_prefix="llm-test-chat-",
        engine=TGI,
        engine_args=TGI.container_args(SETTINGS),
        download_args=TGI.download_args(SETTINGS),
        engine_image=TGI.image,
        worker_image="123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-serving-worker:0.1.0",
        ami_id=AMI,
        instance_types=("g6.xlarge", "g5.xlarge"),
        weights_gb=16.0,
        vpc_id="vpc-0abc12345",
        subnet_ids=["subnet-1", "subnet-2"],
        load_balancer_security_group_id="sg-alb",
        target_group_arn="arn:aws:elasticloadbalancing:tg/chat",
        queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/chat-queue-x",
        queue_name="chat-queue-x",
        consume_policy_json='{"Version": "2012-10-17", "Statement": []}',
        results_bucket="results-x",
        results_policy_json='{"Version": "2012-10-17", "Statement": []}',
        weights=HubWeights(
            token_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:hf",
            token_policy_json=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Sid": "ReadToken", "Action": ["secretsmanager:GetSecretValue"]}],
                }
            ),
        ),
        min_size=0,
        max_size=4,
        on_demand_base=1,
        on_demand_fallback_max=2,
        warm_pool_size=1,
        refresh_rollback_alarm_names=["a-5xx", "a-unhealthy"],
    )
    values.update(changes)
    return GpuFleetArgs(**values)


def plan_fleet(**changes: Any) -> Plan:
    def program() -> None:
        fleet = GpuFleet("chat", fleet_args(**changes))
        pulumi.export("groups", fleet.group_names)

    return run_program(program)


@pytest.fixture(scope="module")
def fleet() -> Plan:
    return plan_fleet()


def group(plan: Plan, kind: str) -> PlannedResource:
    return plan.named("aws:autoscaling/group:Group", f"chat-{kind}")


def test_launch_template_requires_imdsv2_with_hop_limit_1(fleet: Plan) -> None:
    lt = fleet.named("aws:ec2/launchTemplate:LaunchTemplate", "chat-lt")
    assert lt.input("metadataOptions") == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
        "instanceMetadataTags": "enabled",
    }


def test_launch_template_root_volume_is_encrypted_gp3_sized_for_image_and_weights(fleet: Plan) -> None:
    [mapping] = fleet.named("aws:ec2/launchTemplate:LaunchTemplate", "chat-lt").input("blockDeviceMappings")
    ebs = mapping["ebs"]
    assert (ebs["encrypted"], ebs["volumeType"]) == ("true", "gp3")
    assert ebs["volumeSize"] == root_volume_gib(16.0, TGI.image_size_gib) == 60 + 30 + 32 + 20


def test_launch_template_has_no_public_ip_and_uses_the_pinned_ami(fleet: Plan) -> None:
    # Read from AWS's `latest` parameter at every run, the AMI would change under any deploy
    # once AWS publishes a new one, and every GPU instance would be replaced.
    lt = fleet.named("aws:ec2/launchTemplate:LaunchTemplate", "chat-lt")
    assert lt.input("networkInterfaces")[0]["associatePublicIpAddress"] == "false"
    assert lt.input("imageId") == AMI


def test_the_fleet_looks_nothing_up_that_could_change_under_a_deploy() -> None:
    def refuse(_m: object, args: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError(f"looked up an SSM parameter: {args}")

    def program() -> None:
        GpuFleet("chat", fleet_args())

    run_program(program, invokes={"aws:ssm/getParameter:getParameter": refuse})


def test_on_demand_group_has_the_warm_pool_and_no_spot(fleet: Plan) -> None:
    od = group(fleet, "on-demand")
    assert od.input("warmPool") == {
        "poolState": "Stopped",
        "minSize": 1,
        "maxGroupPreparedCapacity": 2,
        "instanceReusePolicy": {"reuseOnScaleIn": True},
    }
    assert "mixedInstancesPolicy" not in od.inputs
    assert (od.input("minSize"), od.input("maxSize")) == (1, 3)


def test_spot_group_mixes_types_price_capacity_optimized_with_rebalance(fleet: Plan) -> None:
    spot = group(fleet, "spot")
    policy = spot.input("mixedInstancesPolicy")
    assert policy["instancesDistribution"]["spotAllocationStrategy"] == "price-capacity-optimized"
    assert policy["instancesDistribution"]["onDemandPercentageAboveBaseCapacity"] == 0
    assert [o["instanceType"] for o in policy["launchTemplate"]["overrides"]] == ["g6.xlarge", "g5.xlarge"]
    assert spot.input("capacityRebalance") is True
    assert "warmPool" not in spot.inputs
    assert (spot.input("minSize"), spot.input("maxSize")) == (0, 3)


def test_both_groups_use_elb_health_checks_with_a_grace_period_covering_model_load(fleet: Plan) -> None:
    grace = estimate_load_seconds(16.0, TGI.image_size_gib)
    assert grace > 600
    for kind in ("on-demand", "spot"):
        g = group(fleet, kind)
        assert g.input("healthCheckType") == "ELB"
        assert g.input("healthCheckGracePeriod") == grace
        assert g.input("targetGroupArns") == ["arn:aws:elasticloadbalancing:tg/chat"]


def test_both_groups_carry_launch_and_termination_hooks(fleet: Plan) -> None:
    for kind in ("on-demand", "spot"):
        hooks = {h["name"]: h for h in group(fleet, kind).input("initialLifecycleHooks")}
        assert hooks[TERMINATION_HOOK]["lifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
        assert hooks[TERMINATION_HOOK]["defaultResult"] == "CONTINUE"
        assert hooks[LAUNCH_HOOK]["lifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
        assert hooks[LAUNCH_HOOK]["defaultResult"] == "ABANDON"
        assert hooks[LAUNCH_HOOK]["heartbeatTimeout"] == LAUNCH_HOOK_HEARTBEAT_SECONDS


def test_lifecycle_hooks_do_not_depend_on_the_model() -> None:
    # The provider replaces a group whose initial hooks change: nothing derived from the
    # model's size or grace period may reach them.
    small = plan_fleet(weights_gb=2.0, health_check_grace_seconds=120)
    large = plan_fleet(weights_gb=140.0, health_check_grace_seconds=7200)
    for kind in ("on-demand", "spot"):
        assert group(small, kind).input("initialLifecycleHooks") == group(large, kind).input("initialLifecycleHooks")


def rollout(plan: Plan, kind: str) -> PlannedResource:
    return plan.named("pulumi-python:dynamic/llm-serving:InstanceRefresh", f"chat-{kind}-rollout")


def test_groups_leave_their_version_to_the_rollout(fleet: Plan) -> None:
    # The provider's own instance_refresh writes the new version to the group before the
    # refresh, so AWS's rollback would return to the new version (terraform-provider-aws 34189).
    for kind in ("on-demand", "spot"):
        assert "instanceRefresh" not in group(fleet, kind).inputs
    assert group(fleet, "on-demand").ignore_changes == ("launchTemplate.version",)
    assert group(fleet, "spot").ignore_changes == (
        "mixedInstancesPolicy.launchTemplate.launchTemplateSpecification.version",
        "mixedInstancesPolicy.launchTemplate.overrides",
    )


def test_each_group_rolls_out_to_the_latest_version_launching_before_terminating(fleet: Plan) -> None:
    lt = fleet.named("aws:ec2/launchTemplate:LaunchTemplate", "chat-lt")
    version = lt.outputs["latestVersion"]
    od, spot = rollout(fleet, "on-demand"), rollout(fleet, "spot")
    assert od.input("groupName") == group(fleet, "on-demand").outputs["name"]
    assert od.input("desiredConfiguration") == {"LaunchTemplate": {"LaunchTemplateId": lt.id, "Version": version}}
    mixed = spot.input("desiredConfiguration")["MixedInstancesPolicy"]
    assert mixed["LaunchTemplate"]["LaunchTemplateSpecification"] == {"LaunchTemplateId": lt.id, "Version": version}
    assert mixed["LaunchTemplate"]["Overrides"] == [{"InstanceType": "g6.xlarge"}, {"InstanceType": "g5.xlarge"}]
    assert mixed["InstancesDistribution"]["SpotAllocationStrategy"] == "price-capacity-optimized"
    grace = estimate_load_seconds(16.0, TGI.image_size_gib)
    for r in (od, spot):
        assert r.input("preferences") == {
            "MinHealthyPercentage": 100,
            "MaxHealthyPercentage": 200,
            "InstanceWarmup": grace,
            "CheckpointPercentages": [50, 100],
            "CheckpointDelay": grace,
            "SkipMatching": True,
            "AutoRollback": True,
            "AlarmSpecification": {"Alarms": ["a-5xx", "a-unhealthy"]},
        }


def test_rollouts_wait_for_the_instance_roles_permissions(fleet: Plan) -> None:
    policies = {p.urn for p in fleet.of_type("aws:iam/rolePolicy:RolePolicy")}
    for kind in ("on-demand", "spot"):
        assert policies <= set(rollout(fleet, kind).dependencies)


def test_groups_use_the_launch_templates_latest_version(fleet: Plan) -> None:
    lt = fleet.named("aws:ec2/launchTemplate:LaunchTemplate", "chat-lt")
    od, spot = group(fleet, "on-demand"), group(fleet, "spot")
    assert od.input("launchTemplate")["id"] == lt.id
    spec = spot.input("mixedInstancesPolicy")["launchTemplate"]["launchTemplateSpecification"]
    assert spec["launchTemplateId"] == lt.id
    assert spec["version"] == od.input("launchTemplate")["version"]
    assert spec["version"] in fleet.computed


def metric_queries(policy: PlannedResource) -> list[dict[str, Any]]:
    return policy.input("targetTrackingConfiguration")["customizedMetricSpecification"]["metrics"]


def test_target_tracking_reads_the_queue_backlog_and_the_workers_in_flight(fleet: Plan) -> None:
    policy = fleet.named("aws:autoscaling/policy:Policy", "chat-backlog")
    queries = {q["id"]: q for q in metric_queries(policy)}
    backlog = queries["backlog"]["metricStat"]["metric"]
    assert backlog["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert backlog["dimensions"] == [{"name": "QueueName", "value": "chat-queue-x"}]
    inflight = queries["inflight"]["metricStat"]["metric"]
    assert (inflight["namespace"], inflight["metricName"]) == (metrics.NAMESPACE, metrics.IN_FLIGHT)
    assert inflight["dimensions"] == [{"name": metrics.DIMENSION_MODEL, "value": "chat"}]
    returned = [q for q in queries.values() if q.get("returnData")]
    assert [q["id"] for q in returned] == ["load"]
    assert policy.input("targetTrackingConfiguration")["targetValue"] == 64


def test_scaling_dimensions_are_the_groups_real_names(fleet: Plan) -> None:
    names = set(fleet.outputs["groups"])
    policy = fleet.named("aws:autoscaling/policy:Policy", "chat-backlog")
    in_service = [
        q["metricStat"]["metric"]["dimensions"][0]["value"]
        for q in metric_queries(policy)
        if q.get("metricStat") and q["metricStat"]["metric"]["metricName"] == "GroupInServiceInstances"
    ]
    assert set(in_service) == names and len(names) == 2
    spot_name = next(n for n in names if n.startswith("llm-test-chat-spot-"))
    assert policy.input("autoscalingGroupName") == spot_name


def test_spot_fallback_alarms_drive_the_on_demand_group(fleet: Plan) -> None:
    names = fleet.outputs["groups"]
    od_name = next(n for n in names if n.startswith("llm-test-chat-od-"))
    grow = fleet.named("aws:autoscaling/policy:Policy", "chat-fallback-grow")
    shrink = fleet.named("aws:autoscaling/policy:Policy", "chat-fallback-shrink")
    assert grow.input("autoscalingGroupName") == shrink.input("autoscalingGroupName") == od_name
    assert [s["scalingAdjustment"] for s in grow.input("stepAdjustments")] == [1, 2]
    assert [s["scalingAdjustment"] for s in shrink.input("stepAdjustments")] == [-1, -2]
    short = fleet.named("aws:cloudwatch/metricAlarm:MetricAlarm", "chat-spot-short")
    back = fleet.named("aws:cloudwatch/metricAlarm:MetricAlarm", "chat-spot-back")
    assert short.input("alarmActions") == [grow.outputs["arn"]]
    assert back.input("alarmActions") == [shrink.outputs["arn"]]
    assert short.input("evaluationPeriods") < back.input("evaluationPeriods")
    spot_name = next(n for n in names if n.startswith("llm-test-chat-spot-"))
    dims = {q["metric"]["dimensions"]["AutoScalingGroupName"] for q in short.input("metricQueries") if q.get("metric")}
    assert dims == {spot_name, od_name}


def test_no_fallback_without_spot_or_when_turned_off() -> None:
    plan = plan_fleet(on_demand_fallback_max=0, warm_pool_size=0)
    names = {r.name for r in plan.resources}
    assert "chat-fallback-grow" not in names and "chat-spot-short" not in names


def test_all_on_demand_fleet_has_one_group_that_scales() -> None:
    plan = plan_fleet(
        min_size=1,
        max_size=3,
        on_demand_base=3,
        on_demand_fallback_max=0,
        warm_pool_size=2,
        instance_types=("g6.xlarge",),
    )
    groups = plan.of_type("aws:autoscaling/group:Group")
    assert [g.name for g in groups] == ["chat-on-demand"]
    assert (groups[0].input("minSize"), groups[0].input("maxSize")) == (1, 3)


def spot_desired(policy: PlannedResource, spot: int, on_demand: int, load: float) -> int:
    """What target tracking asks of the spot group: about capacity x metric / target."""
    target = policy.input("targetTrackingConfiguration")["targetValue"]
    n = spot + on_demand
    in_flight = min(load / n, target) if n else 0.0
    metric = evaluate(
        metric_queries(policy),
        {"backlog": load - in_flight * n, "inflight": in_flight, "g0": on_demand, "g1": spot},
    )
    assert metric is not None
    return math.ceil(spot * metric / target - 1e-9)


@pytest.mark.parametrize(
    ("spot", "on_demand", "load_in_targets"), [(1, 2, 6), (2, 2, 6), (4, 1, 3), (3, 0, 9), (1, 3, 3)]
)
def test_target_tracking_asks_exactly_the_spot_capacity_the_load_needs(
    fleet: Plan, spot: int, on_demand: int, load_in_targets: int
) -> None:
    # Target tracking multiplies the scaled group's capacity by metric / target, so the metric
    # must be proportional to that group: with an on-demand base, load per instance of both
    # groups asks for too few (1 spot, 2 on-demand, 6 targets of load: 2 spot, not 4).
    policy = fleet.named("aws:autoscaling/policy:Policy", "chat-backlog")
    target = policy.input("targetTrackingConfiguration")["targetValue"]
    wanted = max(0, load_in_targets - on_demand)
    assert spot_desired(policy, spot, on_demand, load_in_targets * target) == wanted


def test_without_spot_the_one_group_tracks_load_per_instance() -> None:
    plan = plan_fleet(min_size=1, max_size=4, on_demand_base=4, on_demand_fallback_max=0, warm_pool_size=0)
    policy = plan.named("aws:autoscaling/policy:Policy", "chat-backlog")
    metric = evaluate(metric_queries(policy), {"backlog": 3 * 64, "inflight": 64, "g0": 3})
    assert math.ceil(3 * metric / 64) == 6


def wake_value(wake: PlannedResource, **values: float | None) -> float | None:
    return evaluate(wake.input("metricQueries"), values)


def test_scale_to_zero_adds_a_wake_up_policy_on_load_the_base_does_not_carry(fleet: Plan) -> None:
    wake = fleet.named("aws:cloudwatch/metricAlarm:MetricAlarm", "chat-wake")
    # Nothing serves, one request queued: wake.
    assert wake_value(wake, scaled=0, backlog=1, inflight=None, g0=0, g1=0) == 1
    # The on-demand base (1 instance) carries less than its target: no spot needed.
    assert wake_value(wake, scaled=0, backlog=0, inflight=40, g0=1, g1=0) == 0
    # The base is loaded past the target: wake spot.
    assert wake_value(wake, scaled=0, backlog=30, inflight=64, g0=1, g1=0) == 1
    # Spot already has capacity: target tracking's job, not the wake-up's.
    assert wake_value(wake, scaled=1, backlog=500, inflight=64, g0=1, g1=0) == 0
    # No metrics at all (an idle queue stops reporting): quiet.
    assert wake_value(wake, scaled=None, backlog=None, inflight=None, g0=None, g1=None) == 0
    [scaled] = [q for q in wake.input("metricQueries") if q["id"] == "scaled"]
    spot = next(n for n in fleet.outputs["groups"] if n.startswith("llm-test-chat-spot-"))
    assert scaled["metric"]["dimensions"] == {"AutoScalingGroupName": spot}
    assert fleet.named("aws:autoscaling/policy:Policy", "chat-wake").input("policyType") == "StepScaling"


def test_schedule_switches_both_groups_off_and_on() -> None:
    plan = plan_fleet(schedule=Schedule(off_cron="0 19 * * 1-5", on_cron="0 7 * * 1-5", time_zone="Europe/Berlin"))
    actions = {r.name: r for r in plan.of_type("aws:autoscaling/schedule:Schedule")}
    assert sorted(actions) == ["chat-on-demand-off", "chat-on-demand-on", "chat-spot-off", "chat-spot-on"]
    assert actions["chat-spot-off"].input("maxSize") == 0
    assert actions["chat-spot-on"].input("maxSize") == 3
    assert actions["chat-on-demand-on"].input("minSize") == 1


def instance_policies(plan: Plan) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.input("policy")) for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")}


def test_instance_role_completes_lifecycle_actions_of_its_own_groups_only(fleet: Plan) -> None:
    # A name pattern (llm-test-chat-*) would also match the groups of a model named chat-v2.
    [lifecycle] = instance_policies(fleet)["chat-lifecycle"]["Statement"]
    assert lifecycle["Sid"] == "OwnLifecycleActions"
    assert sorted(lifecycle["Resource"]) == sorted(group(fleet, k).outputs["arn"] for k in ("on-demand", "spot"))
    assert not any("*" in r for r in lifecycle["Resource"])
    for document in instance_policies(fleet).values():
        for statement in document["Statement"]:
            if "autoscaling:CompleteLifecycleAction" in statement["Action"]:
                assert statement["Resource"] == lifecycle["Resource"]


def test_instance_role_pulls_only_the_images_repositories_from_ecr(fleet: Plan) -> None:
    images = instance_policies(fleet)["chat-images"]
    [pull] = [s for s in images["Statement"] if s.get("Sid") == "PullImages"]
    assert pull["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/llm-serving-worker"]


def test_instances_admit_the_engine_port_from_the_load_balancer_only(fleet: Plan) -> None:
    [rule] = fleet.named("aws:ec2/securityGroup:SecurityGroup", "chat-instances").input("ingress")
    assert (rule["fromPort"], rule["toPort"], rule["securityGroups"]) == (8080, 8080, ["sg-alb"])
    assert "cidrBlocks" not in rule


def test_args_refuse_a_warm_pool_the_on_demand_group_cannot_hold() -> None:
    with pytest.raises(ValueError, match="warm_pool_size"):
        fleet_args(on_demand_base=0, on_demand_fallback_max=1, warm_pool_size=2)


def test_no_wake_up_when_the_scaled_group_never_reaches_zero() -> None:
    plan = plan_fleet(min_size=3, on_demand_base=1, warm_pool_size=0)
    assert "chat-wake" not in {r.name for r in plan.resources}


def test_the_cloudwatch_agent_needs_no_permission_the_role_lacks(fleet: Plan) -> None:
    # With retention_in_days in its config the agent calls logs:PutRetentionPolicy, which the
    # role does not grant (retention is set where the log groups are declared).
    import base64

    import yaml

    from components.ec2 import user_data

    lt = fleet.named("aws:ec2/launchTemplate:LaunchTemplate", "chat-lt")
    document = yaml.safe_load(base64.b64decode(lt.input("userData")).decode().removeprefix("#cloud-config\n"))
    [agent] = [f for f in document["write_files"] if f["path"] == user_data.CLOUDWATCH_AGENT_CONFIG]
    files = json.loads(agent["content"])["logs"]["logs_collected"]["files"]["collect_list"]
    assert files and all("retention_in_days" not in f for f in files)
    granted = {a for d in instance_policies(fleet).values() for s in d["Statement"] for a in s["Action"]}
    assert {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"} <= granted
    assert "logs:PutRetentionPolicy" not in granted
    log_groups = fleet.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert log_groups
    for log_group in log_groups:
        assert log_group.input("retentionInDays") == 30


S3 = S3Weights(
    bucket="weights-x",
    prefix="meta-llama/Llama-3.1-8B-Instruct/abc/",
    marker="llm-serving-complete.json",
    read_policy_json=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "ReadWeights", "Action": ["s3:GetObject"]}]}
    ),
)


def test_staged_weights_give_the_role_their_prefix_and_no_token() -> None:
    plan = plan_fleet(weights=S3)
    policies = instance_policies(plan)
    assert "chat-token" not in policies
    assert [st["Sid"] for st in policies["chat-weights"]["Statement"]] == ["ReadWeights"]
    assert "chat-token" in instance_policies(plan_fleet())


def test_staged_weights_and_an_ecr_image_shorten_the_model_load_estimate() -> None:
    hub = estimate_load_seconds(16.0, TGI.image_size_gib)
    staged = estimate_load_seconds(16.0, TGI.image_size_gib, weights_from_s3=True, image_from_ecr=True)
    assert staged < hub
    # 8 s per GB less for 16 GB, and half the image pull.
    assert hub - staged == 16 * 8 + 180
    plan = plan_fleet(weights=S3, engine_image="763104351884.dkr.ecr.us-east-1.amazonaws.com/tgi:x")
    assert group(plan, "spot").input("healthCheckGracePeriod") == staged
