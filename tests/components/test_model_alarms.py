"""ModelAlarms and StackDashboard in the committed stacks: every alarm watches a real
resource (dimensions equal the watched resources' outputs) and reaches the topic."""

from __future__ import annotations

import json
from typing import Any

from components import _events, _metrics
from components.model_alarms import alarm_names
from infra.plan import Plan, PlannedResource
from tests.metric_math import evaluate


def alarms(plan: Plan, model: str) -> dict[str, PlannedResource]:
    [component] = [r for r in plan.of_type("llm-serving:aws:ModelAlarms") if r.name == model]
    return {r.name: r for r in plan.children(component.urn) if r.type == "aws:cloudwatch/metricAlarm:MetricAlarm"}


def dimensions(alarm: PlannedResource) -> list[dict[str, Any]]:
    if alarm.input("dimensions"):
        return [alarm.input("dimensions")]
    return [q["metric"]["dimensions"] for q in alarm.input("metricQueries") if q.get("metric")]


def test_user_and_fleet_alarms_exist_per_model(prod_plan: Plan) -> None:
    for model in ("chat", "summarize"):
        assert set(alarms(prod_plan, model)) == {
            f"{model}-{a}"
            for a in (
                "errors",
                "latency",
                "unhealthy",
                "queue-age",
                "not-consumed",
                "dead-letters",
                "failed-results",
                "too-few-healthy",
                "spot-shortfall",
            )
        }


def test_scale_to_zero_models_have_no_minimum_healthy_alarm(dev_plan: Plan) -> None:
    assert "chat-too-few-healthy" not in alarms(dev_plan, "chat")


def test_alarm_dimensions_are_the_watched_resources_outputs(prod_plan: Plan) -> None:
    tg = prod_plan.named("aws:lb/targetGroup:TargetGroup", "chat-tg").outputs["arnSuffix"]
    lb = prod_plan.named("aws:lb/loadBalancer:LoadBalancer", "models-alb").outputs["arnSuffix"]
    queue = prod_plan.named("aws:sqs/queue:Queue", "chat-queue").outputs["name"]
    dlq = prod_plan.named("aws:sqs/queue:Queue", "chat-dlq").outputs["name"]
    spot = prod_plan.named("aws:autoscaling/group:Group", "chat-spot").outputs["name"]
    groups = {
        prod_plan.named("aws:autoscaling/group:Group", f"chat-{k}").outputs["name"] for k in ("on-demand", "spot")
    }
    a = alarms(prod_plan, "chat")
    for name in ("chat-errors", "chat-latency", "chat-unhealthy"):
        assert all(d == {"LoadBalancer": lb, "TargetGroup": tg} for d in dimensions(a[name])), name
    healthy, *desired = dimensions(a["chat-too-few-healthy"])
    assert healthy == {"LoadBalancer": lb, "TargetGroup": tg}
    assert {d["AutoScalingGroupName"] for d in desired} == groups
    assert dimensions(a["chat-queue-age"]) == [{"QueueName": queue}]
    assert dimensions(a["chat-not-consumed"]) == [{"QueueName": queue}, {"QueueName": queue}]
    assert dimensions(a["chat-dead-letters"]) == [{"QueueName": dlq}]
    assert all(d == {"AutoScalingGroupName": spot} for d in dimensions(a["chat-spot-shortfall"]))
    assert all(d == {"Model": "chat"} for d in dimensions(a["chat-failed-results"]))


def test_every_alarm_notifies_the_topic_and_chooses_missing_data(prod_plan: Plan) -> None:
    topic = prod_plan.named("aws:sns/topic:Topic", "alarms-topic").outputs["arn"]
    for model in ("chat", "summarize"):
        for alarm in alarms(prod_plan, model).values():
            assert alarm.input("alarmActions") == [topic]
            assert alarm.input("treatMissingData") in {"breaching", "notBreaching", "ignore"}


def test_refresh_rolls_back_on_the_models_named_alarms(prod_plan: Plan) -> None:
    names = list(alarm_names("llm-prod-chat-").values())
    declared = {a.input("name") for a in alarms(prod_plan, "chat").values()}
    assert set(names) <= declared
    for kind in ("spot", "on-demand"):
        rollout = prod_plan.named("pulumi-python:dynamic/llm-serving:InstanceRefresh", f"chat-{kind}-rollout")
        assert rollout.input("preferences")["AlarmSpecification"]["Alarms"] == sorted(names)


def test_failed_or_rolled_back_refreshes_reach_the_topic(prod_plan: Plan) -> None:
    rule = prod_plan.named("aws:cloudwatch/eventRule:EventRule", "chat-refresh-failed")
    pattern = json.loads(rule.input("eventPattern"))
    groups = sorted(
        prod_plan.named("aws:autoscaling/group:Group", f"chat-{k}").outputs["name"] for k in ("on-demand", "spot")
    )
    assert pattern["detail"]["AutoScalingGroupName"] == groups
    assert "EC2 Auto Scaling Instance Refresh Failed" in pattern["detail-type"]
    assert "EC2 Auto Scaling Instance Refresh Rollback Succeeded" in pattern["detail-type"]
    # Detail-types AWS never sends would make the rule wait for nothing.
    assert set(pattern["detail-type"]) <= _events.AUTOSCALING_DETAIL_TYPES
    assert pattern["detail-type"] == [
        "EC2 Auto Scaling Instance Refresh Failed",
        "EC2 Auto Scaling Instance Refresh Rollback Started",
        "EC2 Auto Scaling Instance Refresh Rollback Succeeded",
        "EC2 Auto Scaling Instance Refresh Rollback Failed",
    ]
    target = prod_plan.named("aws:cloudwatch/eventTarget:EventTarget", "chat-refresh-failed")
    assert target.input("arn") == prod_plan.named("aws:sns/topic:Topic", "alarms-topic").outputs["arn"]


def test_topic_is_encrypted_and_lets_cloudwatch_and_eventbridge_publish(prod_plan: Plan) -> None:
    topic = prod_plan.named("aws:sns/topic:Topic", "alarms-topic")
    assert topic.input("kmsMasterKeyId") == prod_plan.named("aws:kms/key:Key", "alarms-key").outputs["arn"]
    policy = json.loads(prod_plan.named("aws:sns/topicPolicy:TopicPolicy", "alarms-policy").input("policy"))
    [allow] = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"]["Service"] == ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    subscriptions = prod_plan.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert [s.input("endpoint") for s in subscriptions] == ["oncall@example.com"]


def test_dashboard_has_a_row_per_model_with_cost(prod_plan: Plan) -> None:
    [dashboard] = prod_plan.of_type("aws:cloudwatch/dashboard:Dashboard")
    widgets = json.loads(dashboard.input("dashboardBody"))["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    for model in ("chat", "summarize"):
        for graph in (
            "requests per second",
            "latency (s)",
            "tokens per second",
            "queue",
            "per instance",
            "instances",
            "errors",
            "estimated cost (USD/hour)",
        ):
            assert f"{model}: {graph}" in titles
    [cost] = [w for w in widgets if w["properties"]["title"] == "chat: estimated cost (USD/hour)"]
    expression = cost["properties"]["metrics"][-1][0]["expression"]
    assert expression == "FILL(i0, 0) * 1.861 + FILL(i1, 0) * 0.9305"
    spot = prod_plan.named("aws:autoscaling/group:Group", "chat-spot").outputs["name"]
    assert any(spot in m for w in widgets for m in w["properties"]["metrics"] if isinstance(m, list))


def test_a_backend_without_the_load_balancer_keeps_its_queue_and_worker_alarms() -> None:
    from components.model_alarms import ModelAlarms, ModelAlarmsArgs
    from infra.plan import run_program

    def program() -> None:
        ModelAlarms(
            "chat",
            ModelAlarmsArgs(
                model="chat",
                name_prefix="llm-test-chat-",
                alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:t",
                load_balancer_arn_suffix=None,
                target_group_arn_suffix=None,
                queue_name="q",
                dead_letter_queue_name="dlq",
                min_healthy_hosts=2,
            ),
        )

    plan = run_program(program)
    names = sorted(r.name for r in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
    assert names == ["chat-dead-letters", "chat-failed-results", "chat-not-consumed", "chat-queue-age"]
    assert not plan.of_type("aws:cloudwatch/eventRule:EventRule")


def value(alarm: PlannedResource, **values: float | None) -> float | None:
    return evaluate(alarm.input("metricQueries"), values)


def test_error_rate_counts_what_a_crashed_engine_causes(prod_plan: Plan) -> None:
    # A crashed engine refuses connections: the load balancer answers 502 and counts it per
    # target group as TargetConnectionErrorCount. Its own 5xx count has no TargetGroup
    # dimension: queried per target group, it is always empty.
    errors = alarms(prod_plan, "chat")["chat-errors"]
    metrics = {q["metric"]["metricName"] for q in errors.input("metricQueries") if q.get("metric")}
    assert metrics == {"RequestCount", "HTTPCode_Target_5XX_Count", "TargetConnectionErrorCount"}
    assert value(errors, requests=10, target5xx=None, refused=10) == 100
    assert value(errors, requests=100, target5xx=2, refused=1) == 3
    assert value(errors, requests=None, target5xx=None, refused=None) == 0


def test_the_load_balancers_own_5xx_are_watched_per_load_balancer(prod_plan: Plan) -> None:
    [alarm] = [a for a in prod_plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name == "models-elb-5xx"]
    lb = prod_plan.named("aws:lb/loadBalancer:LoadBalancer", "models-alb").outputs["arnSuffix"]
    assert dimensions(alarm) == [{"LoadBalancer": lb}, {"LoadBalancer": lb}]
    assert alarm.input("name") == "llm-prod-load-balancer-5xx-rate"
    # No target at all: every request is a 503 the load balancer answers itself.
    assert value(alarm, requests=None, elb5xx=40) == 100
    assert value(alarm, requests=200, elb5xx=10) == 5
    assert value(alarm, requests=None, elb5xx=None) == 0


def test_an_idle_queue_pages_nobody(dev_plan: Plan) -> None:
    # SQS reports ApproximateAgeOfOldestMessage only while a message waits and stops
    # reporting an idle queue: missing data there means nothing is waiting.
    a = alarms(dev_plan, "chat")
    assert a["chat-queue-age"].input("treatMissingData") == "notBreaching"
    assert a["chat-not-consumed"].input("treatMissingData") == "notBreaching"
    assert value(a["chat-not-consumed"], waiting=None, received=None) == 0


def test_work_nobody_receives_pages_after_a_scale_out_from_zero_would_have_served_it(dev_plan: Plan) -> None:
    alarm = alarms(dev_plan, "chat")["chat-not-consumed"]
    assert value(alarm, waiting=12, received=None) == 1
    assert value(alarm, waiting=12, received=3) == 0
    assert value(alarm, waiting=0, received=0) == 0
    grace = dev_plan.named("aws:autoscaling/group:Group", "chat-spot").input("healthCheckGracePeriod")
    assert alarm.input("evaluationPeriods") * 60 >= grace + 300
    assert alarm.input("datapointsToAlarm") == alarm.input("evaluationPeriods")


def test_dead_letters_stay_in_alarm_when_sqs_stops_reporting(prod_plan: Plan) -> None:
    assert alarms(prod_plan, "chat")["chat-dead-letters"].input("treatMissingData") == "ignore"


def test_too_few_healthy_is_quiet_while_a_schedule_has_switched_the_model_off() -> None:
    import yaml

    from infra.plan import run_plan
    from tests.helpers import ROOT

    models = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]["llm-serving:models"]
    models["chat"]["capacity"] = {"min": 1, "max": 2, "onDemandBase": 1, "onDemandFallbackMax": 1}
    plan = run_plan("dev", overrides={"llm-serving:models": models})
    alarm = alarms(plan, "chat")["chat-too-few-healthy"]
    # Night: the schedule set both groups to 0; no target is healthy, nobody is paged.
    assert value(alarm, healthy=None, desired0=0, desired1=0) == 0
    # Day: one wanted, none healthy.
    assert value(alarm, healthy=0, desired0=1, desired1=0) == 1
    assert value(alarm, healthy=None, desired0=1, desired1=1) == 1
    assert value(alarm, healthy=1, desired0=1, desired1=0) == 0


def every_metric_query(plan: Plan) -> list[tuple[str, str, str, frozenset[str]]]:
    """(resource, namespace, metric, dimension names) of every alarm, policy and dashboard."""
    found = []
    for alarm in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        if alarm.input("metricName"):
            found.append(
                (alarm.name, alarm.input("namespace"), alarm.input("metricName"), frozenset(alarm.input("dimensions")))
            )
        for q in alarm.input("metricQueries") or []:
            if q.get("metric"):
                m = q["metric"]
                found.append((alarm.name, m["namespace"], m["metricName"], frozenset(m["dimensions"])))
    for policy in plan.of_type("aws:autoscaling/policy:Policy"):
        spec = (policy.input("targetTrackingConfiguration") or {}).get("customizedMetricSpecification") or {}
        for q in spec.get("metrics", []):
            if q.get("metricStat"):
                m = q["metricStat"]["metric"]
                found.append(
                    (policy.name, m["namespace"], m["metricName"], frozenset(d["name"] for d in m["dimensions"]))
                )
    for dashboard in plan.of_type("aws:cloudwatch/dashboard:Dashboard"):
        for widget in json.loads(dashboard.input("dashboardBody"))["widgets"]:
            for line in widget["properties"]["metrics"]:
                names = [x for x in line if isinstance(x, str)]
                if len(names) >= 2:
                    found.append((widget["properties"]["title"], names[0], names[1], frozenset(names[2::2])))
    return found


def test_every_metric_in_the_plans_is_one_aws_publishes_under_those_dimensions(dev_plan: Plan, prod_plan: Plan) -> None:
    queries = every_metric_query(dev_plan) + every_metric_query(prod_plan)
    assert len(queries) > 100
    wrong = [(where, problem) for where, ns, name, dims in queries if (problem := _metrics.unpublished(ns, name, dims))]
    assert wrong == []


def test_a_metric_asked_for_under_dimensions_aws_does_not_publish_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="HTTPCode_ELB_5XX_Count is published per"):
        _metrics.metric(
            "x", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": "a", "TargetGroup": "b"}, "Sum"
        )
