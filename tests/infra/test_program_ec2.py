"""The EC2 path in the committed stacks, and how config changes reach it."""

from __future__ import annotations

import base64
import json
import runpy
from typing import Any

import pytest
import yaml

from infra.config import ConfigError
from infra.plan import PROGRAM, Plan, PlannedResource, read_stack_config, run_plan, run_program
from tests.helpers import ROOT


def per_model(plan: Plan, type_: str, model: str) -> list[PlannedResource]:
    return [r for r in plan.of_type(type_) if r.name.startswith(f"{model}-")]


def ec2_models(plan: Plan) -> list[str]:
    """The plan's models that run on EC2 (those with Auto Scaling groups)."""
    return [m for m, out in plan.outputs["models"].items() if "autoScalingGroupNames" in out]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_ec2_model_has_its_serving_path(stack: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    models = ec2_models(plan)
    assert models
    for model in models:
        [lt] = per_model(plan, "aws:ec2/launchTemplate:LaunchTemplate", model)
        assert lt.input("metadataOptions")["httpTokens"] == "required"
        assert lt.input("blockDeviceMappings")[0]["ebs"]["encrypted"] == "true"
        groups = {g.name: g for g in per_model(plan, "aws:autoscaling/group:Group", model)}
        spot = groups[f"{model}-spot"]
        assert f"{model}-on-demand" in groups
        mixed = spot.input("mixedInstancesPolicy")
        assert len(mixed["launchTemplate"]["overrides"]) >= 2
        assert mixed["instancesDistribution"]["spotAllocationStrategy"] == "price-capacity-optimized"
        assert spot.input("capacityRebalance") is True
        for g in groups.values():
            assert {h["lifecycleTransition"] for h in g.input("initialLifecycleHooks")} == {
                "autoscaling:EC2_INSTANCE_LAUNCHING",
                "autoscaling:EC2_INSTANCE_TERMINATING",
            }
        for kind in ("on-demand", "spot"):
            rollout = plan.named("pulumi-python:dynamic/llm-serving:InstanceRefresh", f"{model}-{kind}-rollout")
            assert rollout.input("preferences")["AutoRollback"] is True
            assert rollout.input("groupName") == groups[f"{model}-{kind}"].outputs["name"]
        [tg] = per_model(plan, "aws:lb/targetGroup:TargetGroup", model)
        assert tg.input("healthCheck")["path"] == "/health"
        [rule] = per_model(plan, "aws:lb/listenerRule:ListenerRule", model)
        assert rule.input("actions")[0]["targetGroupArn"] == tg.outputs["arn"]
        [tracking] = [
            p
            for p in per_model(plan, "aws:autoscaling/policy:Policy", model)
            if p.input("policyType") == "TargetTrackingScaling"
        ]
        queue = plan.named("aws:sqs/queue:Queue", f"{model}-queue")
        queries = tracking.input("targetTrackingConfiguration")["customizedMetricSpecification"]["metrics"]
        assert {"name": "QueueName", "value": queue.outputs["name"]} in [
            d for q in queries if q.get("metricStat") for d in q["metricStat"]["metric"]["dimensions"]
        ]
        alarms = {a.name for a in per_model(plan, "aws:cloudwatch/metricAlarm:MetricAlarm", model)}
        assert {f"{model}-spot-short", f"{model}-spot-back"} <= alarms
        assert {p.name for p in per_model(plan, "aws:autoscaling/policy:Policy", model)} >= {
            f"{model}-fallback-grow",
            f"{model}-fallback-shrink",
        }
    assert len(plan.of_type("aws:lb/loadBalancer:LoadBalancer")) == 1
    assert plan.of_type("aws:lb/listener:Listener")


def test_prod_runs_one_model_per_engine_with_base_warm_pool_and_https(prod_plan: Plan) -> None:
    images = {
        lt.name: json.dumps(lt.input("userData")) for lt in prod_plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    }
    assert len(images) == 2
    for model in ec2_models(prod_plan):
        od = prod_plan.named("aws:autoscaling/group:Group", f"{model}-on-demand")
        assert od.input("minSize") >= 1
        assert od.input("warmPool")["minSize"] >= 1
    listeners = {r.input("protocol") for r in prod_plan.of_type("aws:lb/listener:Listener")}
    assert listeners == {"HTTP", "HTTPS"}
    alb = prod_plan.named("aws:lb/loadBalancer:LoadBalancer", "models-alb")
    assert alb.input("enableDeletionProtection") is True
    stack = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    engines = {m["engine"] for m in stack["config"]["llm-serving:models"].values() if m["backend"] == "ec2"}
    assert engines == {"tgi", "vllm"}


def test_dev_is_spot_first_scales_to_zero_and_sleeps_at_night(dev_plan: Plan) -> None:
    spot = dev_plan.named("aws:autoscaling/group:Group", "chat-spot")
    od = dev_plan.named("aws:autoscaling/group:Group", "chat-on-demand")
    assert spot.input("minSize") == 0
    assert (od.input("minSize"), od.input("maxSize")) == (0, 1)
    assert "warmPool" not in od.inputs
    assert len(dev_plan.of_type("aws:autoscaling/schedule:Schedule")) == 4


def dev_with(change: dict[str, Any]) -> Plan:
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    models = stack["config"]["llm-serving:models"]
    models["chat"].update(change)
    return run_plan("dev", overrides={"llm-serving:models": models})


def rendered(plan: Plan, type_: str) -> dict[str, Any]:
    document = plan.to_json()
    return {r["name"]: r["inputs"] for r in document["resources"] if r["type"] == type_}


def test_a_new_model_revision_changes_the_launch_template_and_nothing_else_about_the_groups(dev_plan: Plan) -> None:
    changed = dev_with({"revision": "1" * 40})
    before_lt = rendered(dev_plan, "aws:ec2/launchTemplate:LaunchTemplate")
    after_lt = rendered(changed, "aws:ec2/launchTemplate:LaunchTemplate")
    assert before_lt["chat-lt"]["userData"] != after_lt["chat-lt"]["userData"]
    assert rendered(dev_plan, "aws:autoscaling/group:Group") == rendered(changed, "aws:autoscaling/group:Group")
    before = {(r["type"], r["name"]): r["inputs"] for r in dev_plan.to_json()["resources"]}
    after = {(r["type"], r["name"]): r["inputs"] for r in changed.to_json()["resources"]}
    assert [k for k in before if before[k] != after[k]] == [("aws:ec2/launchTemplate:LaunchTemplate", "chat-lt")]


def test_a_warm_pool_larger_than_the_on_demand_group_can_grow_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as e:
        dev_with({"capacity": {"min": 0, "max": 2, "onDemandBase": 0, "onDemandFallbackMax": 1, "warmPool": 2}})
    assert e.value.lines == [
        "llm-serving:models.chat.capacity.warmPool: must be at most what the on-demand group can grow to "
        "(onDemandBase 0 + onDemandFallbackMax 1 = 1): warm instances only ever join that group"
    ]


def test_a_warm_pool_with_no_on_demand_base_is_valid() -> None:
    plan = dev_with({"capacity": {"min": 0, "max": 2, "onDemandBase": 0, "onDemandFallbackMax": 1, "warmPool": 1}})
    assert plan.named("aws:autoscaling/group:Group", "chat-on-demand").input("warmPool")["minSize"] == 1


def test_the_token_never_appears_in_the_plan_or_user_data() -> None:
    token = "hf_SECRETSECRETSECRETSECRETSECRET42"
    values, _ = read_stack_config("dev")
    values["llm-serving:huggingFaceToken"] = token
    plan = run_program(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        stack="dev",
        config=values,
        secret_keys=["llm-serving:huggingFaceToken"],
    )
    assert token not in plan.json_text()
    for lt in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert token not in base64.b64decode(lt.input("userData")).decode()
    [version] = plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.input("secretString") == token


def test_a_token_in_plain_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="huggingFaceToken: is stored in plain text"):
        run_plan("dev", overrides={"llm-serving:huggingFaceToken": "hf_" + "x" * 34})


def replacements(before: Plan, after: Plan) -> list[str]:
    """Every input change between two plans that would replace its resource on `pulumi up`
    (infra/replacements.py), and every resource one plan has and the other not."""
    from infra.replacements import forces_replacement

    old = {r["urn"]: r for r in before.to_json()["resources"]}
    new = {r["urn"]: r for r in after.to_json()["resources"]}
    found = [f"added or removed: {urn}" for urn in sorted(set(old) ^ set(new))]
    for urn in sorted(set(old) & set(new)):
        a, b = old[urn]["inputs"], new[urn]["inputs"]
        if not old[urn]["type"].startswith(("aws:", "pulumi-python:")):
            continue  # components have no provider
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key) and forces_replacement(old[urn]["type"], key):
                found.append(f"{old[urn]['name']}.{key}")
    return found


@pytest.mark.parametrize(
    "change",
    [
        {"parametersBillions": 7},
        {"quantization": "fp8", "instanceTypes": ["g6.xlarge", "g6.2xlarge"]},
        {"healthCheckGraceSeconds": 3600},
        {"maxTotalTokens": 16384, "maxInputTokens": 8192},
        {"maxGenerationSeconds": 900},
        {"instanceTypes": ["g5.xlarge", "g6.xlarge"]},
        {"revision": "1" * 40, "engine": "vllm"},
        {"capacity": {"min": 1, "max": 4, "onDemandBase": 1, "onDemandFallbackMax": 1}},
        {"schedule": {"offCron": "0 20 * * 1-5", "onCron": "0 6 * * 1-5", "timeZone": "Europe/Berlin"}},
        {"targetBacklogPerInstance": 16, "maxConcurrentRequests": 32},
    ],
    ids=lambda c: ",".join(c),
)
def test_config_edits_replace_no_group(dev_plan: Plan, change: dict[str, Any]) -> None:
    # The launch hook's timeout used to derive from the model's size: an edit of the size,
    # the quantization or the grace period replaced both groups at once, an outage.
    changed = dev_with(change)
    assert [r for r in replacements(dev_plan, changed) if "added or removed" not in r] == []
    assert {g.urn for g in changed.of_type("aws:autoscaling/group:Group")} == {
        g.urn for g in dev_plan.of_type("aws:autoscaling/group:Group")
    }


def test_the_replacement_check_sees_a_change_that_does_replace_a_group(dev_plan: Plan) -> None:
    # The check above can fail: a different stack name changes the groups' name prefix.
    import dataclasses

    renamed = dataclasses.replace(
        dev_plan,
        resources=[
            dataclasses.replace(r, inputs={**r.inputs, "namePrefix": "llm-other-chat-od-"})
            if r.type == "aws:autoscaling/group:Group"
            else r
            for r in dev_plan.resources
        ],
    )
    assert "chat-on-demand.namePrefix" in replacements(dev_plan, renamed)
