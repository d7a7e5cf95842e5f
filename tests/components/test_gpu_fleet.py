"""GpuFleet: launch template, two groups, hooks, scaling, spot fallback, refresh."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.gpu_fleet import (
    GPU_AMI_PARAMETER,
    LAUNCH_HOOK,
    TERMINATION_HOOK,
    GpuFleet,
    GpuFleetArgs,
    Schedule,
    estimate_load_seconds,
    root_volume_gib,
)
from infra.plan import Plan, PlannedResource, run_program
from model_server import metrics
from model_server.engines import TGI, EngineSettings, Quantization

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
        token_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:hf",
        token_policy_json='{"Version": "2012-10-17", "Statement": []}',
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


def test_launch_template_has_no_public_ip_and_uses_the_gpu_ami_parameter(fleet: Plan) -> None:
    lt = fleet.named("aws:ec2/launchTemplate:LaunchTemplate", "chat-lt")
    assert lt.input("networkInterfaces")[0]["associatePublicIpAddress"] == "false"
    assert lt.input("imageId").startswith("ami-")
    assert lt.input("imageId") in fleet.computed
    assert "base-oss-nvidia-driver-gpu-amazon-linux-2023" in GPU_AMI_PARAMETER


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


def test_instance_refresh_launches_before_terminating_and_rolls_back_on_alarms(fleet: Plan) -> None:
    for kind in ("on-demand", "spot"):
        refresh = group(fleet, kind).input("instanceRefresh")
        prefs = refresh["preferences"]
        assert refresh["strategy"] == "Rolling"
        assert (prefs["minHealthyPercentage"], prefs["maxHealthyPercentage"]) == (100, 200)
        assert prefs["autoRollback"] is True
        assert prefs["checkpointPercentages"] == [50, 100]
        assert prefs["alarmSpecification"]["alarms"] == ["a-5xx", "a-unhealthy"]


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


def test_target_tracking_uses_backlog_plus_in_flight_per_in_service_instance(fleet: Plan) -> None:
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


def test_scale_to_zero_adds_a_wake_up_policy_on_queued_requests(fleet: Plan) -> None:
    wake = fleet.named("aws:cloudwatch/metricAlarm:MetricAlarm", "chat-wake")
    [returned] = [q for q in wake.input("metricQueries") if q.get("returnData")]
    assert returned["expression"] == (
        "IF(FILL(scaled, 0) == 0 AND ((n == 0 AND FILL(backlog, 0) > 0) OR load > 64), 1, 0)"
    )
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
    runtime = instance_policies(fleet)["chat-runtime"]
    [lifecycle] = [s for s in runtime["Statement"] if s.get("Sid") == "OwnLifecycleActions"]
    [resource] = lifecycle["Resource"]
    assert resource.endswith(":autoScalingGroupName/llm-test-chat-*")


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
