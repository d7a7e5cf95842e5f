"""ModelAlarms and StackDashboard in the committed stacks: every alarm watches a real
resource (dimensions equal the watched resources' outputs) and reaches the topic."""

from __future__ import annotations

import json
from typing import Any

from components.model_alarms import alarm_names
from infra.plan import Plan, PlannedResource


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
    a = alarms(prod_plan, "chat")
    for name in ("chat-errors", "chat-latency", "chat-unhealthy", "chat-too-few-healthy"):
        assert all(d == {"LoadBalancer": lb, "TargetGroup": tg} for d in dimensions(a[name])), name
    assert dimensions(a["chat-queue-age"]) == [{"QueueName": queue}]
    assert dimensions(a["chat-dead-letters"]) == [{"QueueName": dlq}]
    assert all(d == {"AutoScalingGroupName": spot} for d in dimensions(a["chat-spot-shortfall"]))
    assert all(d == {"Model": "chat"} for d in dimensions(a["chat-failed-results"]))


def test_every_alarm_notifies_the_topic_and_chooses_missing_data(prod_plan: Plan) -> None:
    topic = prod_plan.named("aws:sns/topic:Topic", "alarms-topic").outputs["arn"]
    for model in ("chat", "summarize"):
        for alarm in alarms(prod_plan, model).values():
            assert alarm.input("alarmActions") == [topic]
            assert alarm.input("treatMissingData") in {"breaching", "notBreaching"}


def test_refresh_rolls_back_on_the_models_named_alarms(prod_plan: Plan) -> None:
    names = list(alarm_names("llm-prod-chat-").values())
    declared = {a.input("name") for a in alarms(prod_plan, "chat").values()}
    assert set(names) <= declared
    for kind in ("spot", "on-demand"):
        group = prod_plan.named("aws:autoscaling/group:Group", f"chat-{kind}")
        assert group.input("instanceRefresh")["preferences"]["alarmSpecification"]["alarms"] == names


def test_failed_or_rolled_back_refreshes_reach_the_topic(prod_plan: Plan) -> None:
    rule = prod_plan.named("aws:cloudwatch/eventRule:EventRule", "chat-refresh-failed")
    pattern = json.loads(rule.input("eventPattern"))
    groups = sorted(
        prod_plan.named("aws:autoscaling/group:Group", f"chat-{k}").outputs["name"] for k in ("on-demand", "spot")
    )
    assert pattern["detail"]["AutoScalingGroupName"] == groups
    assert "EC2 Auto Scaling Instance Refresh Failed" in pattern["detail-type"]
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
    assert names == ["chat-dead-letters", "chat-failed-results", "chat-queue-age"]
