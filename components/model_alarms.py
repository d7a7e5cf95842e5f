"""Alarms of one model: what its users feel and what its fleet feels.

Creates, each sending to the stack's alarm topic, each with ``treat_missing_data`` chosen
on purpose, each with dimensions taken from the watched resources' outputs:
- user-facing: 5xx rate of the model's target group (metric math over request and error
  counts), p95 target response time against the latency objective, age of the oldest
  queued request against the queue objective, any message in the dead-letter queue, the
  worker's failed-result rate;
- fleet: unhealthy hosts for several minutes, healthy hosts below the minimum (only when
  the minimum is above 0), spot shortfall (the fallback's trigger), and instance refreshes
  that fail or roll back (an EventBridge rule to the topic).

The target-group alarms have fixed names (``alarm_names``), so the fleet's instance
refresh can roll back on them while they are declared after it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import _metrics
from model_server import metrics

UNHEALTHY_MINUTES = 5
"""Longer than the health check's own 100 s tolerance, so a flapping /health under load
does not page anyone."""
FAILED_RESULT_RATE_THRESHOLD_PERCENT = 5.0
"""Permanent failures (bad requests) above 5% of results usually mean a client or model
change broke requests, not one bad prompt."""


def alarm_names(prefix: str) -> dict[str, str]:
    """The fixed names of the alarms an instance refresh rolls back on."""
    return {
        "errors": f"{prefix}target-5xx-rate",
        "latency": f"{prefix}target-p95-latency",
        "unhealthy": f"{prefix}unhealthy-hosts",
    }


@dataclass(frozen=True, kw_only=True)
class ModelAlarmsArgs:
    model: str
    name_prefix: str
    """``llm-<stack>-<model>-``: alarm names start with it."""
    alarm_topic_arn: pulumi.Input[str]
    load_balancer_arn_suffix: pulumi.Input[str] | None
    """With the target group: the synchronous path's dimensions. None for a backend that
    serves without this load balancer (SageMaker, EKS): those alarms are then left out."""
    target_group_arn_suffix: pulumi.Input[str] | None
    queue_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    group_names: pulumi.Input[Sequence[str]] = ()
    """The fleet's Auto Scaling groups (refresh failures of these are reported)."""
    spot_group_name: pulumi.Input[str] | None = None
    """The spot group, for the shortfall alarm; None when the model has no spot group."""
    min_healthy_hosts: int = 0
    """Alarm when fewer healthy targets than this; 0 (scale to zero) turns it off."""
    latency_objective_seconds: float = 30.0
    queue_age_objective_seconds: int = 600
    error_rate_threshold_percent: float = 5.0


class ModelAlarms(pulumi.ComponentResource):
    alarm_arns: pulumi.Output[list[str]]
    alarm_names: pulumi.Output[list[str]]
    """Every metric alarm of the model (a smoke test checks none is in ALARM)."""
    rollback_alarm_names: list[str]

    def __init__(self, name: str, args: ModelAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:ModelAlarms", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        names = alarm_names(args.name_prefix)
        tg = None
        if args.load_balancer_arn_suffix is not None and args.target_group_arn_suffix is not None:
            tg = {"LoadBalancer": args.load_balancer_arn_suffix, "TargetGroup": args.target_group_arn_suffix}
        alarms = self._target_group_alarms(names, tg) if tg is not None else []
        alarms += [
            self._alarm(
                "queue-age",
                description=f"{args.model}: a queued request has waited more than {args.queue_age_objective_seconds} s",
                threshold=args.queue_age_objective_seconds,
                periods=3,
                # SQS always reports this metric; missing data means the queue is gone.
                missing="breaching",
                namespace="AWS/SQS",
                metric="ApproximateAgeOfOldestMessage",
                dimensions={"QueueName": args.queue_name},
                statistic="Maximum",
            ),
            self._alarm(
                "dead-letters",
                description=f"{args.model}: requests ended in the dead-letter queue; inspect "
                "them, then redrive or delete",
                threshold=1,
                periods=1,
                missing="notBreaching",
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": args.dead_letter_queue_name},
                statistic="Maximum",
            ),
            self._alarm(
                "failed-results",
                description=f"{args.model}: more than {FAILED_RESULT_RATE_THRESHOLD_PERCENT:g}% "
                "of results are failures",
                threshold=FAILED_RESULT_RATE_THRESHOLD_PERCENT,
                periods=3,
                missing="notBreaching",
                queries=[
                    _metrics.metric(
                        "failed", metrics.NAMESPACE, metrics.FAILED, {metrics.DIMENSION_MODEL: args.model}, "Sum"
                    ),
                    _metrics.metric(
                        "succeeded", metrics.NAMESPACE, metrics.SUCCEEDED, {metrics.DIMENSION_MODEL: args.model}, "Sum"
                    ),
                    {
                        "id": "rate",
                        "label": "failed per 100 results",
                        "return_data": True,
                        "expression": "100 * FILL(failed, 0) / IF(FILL(failed, 0) + FILL(succeeded, 0) > 0, "
                        "FILL(failed, 0) + FILL(succeeded, 0), 1)",
                    },
                ],
            ),
        ]
        if args.min_healthy_hosts > 0 and tg is not None:
            alarms.append(
                self._alarm(
                    "too-few-healthy",
                    description=f"{args.model}: fewer than {args.min_healthy_hosts} healthy targets",
                    threshold=args.min_healthy_hosts,
                    periods=3,
                    comparison="LessThanThreshold",
                    # No data from a target group that should have targets is a failure.
                    missing="breaching",
                    namespace="AWS/ApplicationELB",
                    metric="HealthyHostCount",
                    dimensions=tg,
                    statistic="Minimum",
                )
            )
        if args.spot_group_name is not None:
            *inputs, shortfall = _metrics.spot_shortfall("short", args.spot_group_name)
            alarms.append(
                self._alarm(
                    "spot-shortfall",
                    description=f"{args.model}: spot capacity below desired for 15 minutes "
                    "(on-demand fallback is filling in)",
                    threshold=1,
                    periods=15,
                    missing="notBreaching",
                    # The same shortfall the fleet's fallback acts on (components/_metrics.py).
                    queries=[*inputs, {**shortfall, "return_data": True}],
                )
            )
        self._refresh_events(args)
        self.rollback_alarm_names = list(names.values()) if tg is not None else []
        self.alarm_arns = pulumi.Output.all(*[a.arn for a in alarms])
        self.alarm_names = pulumi.Output.all(*[a.name for a in alarms])
        self.register_outputs({"alarm_arns": self.alarm_arns, "alarm_names": self.alarm_names})

    def _target_group_alarms(
        self, names: dict[str, str], tg: dict[str, pulumi.Input[str]]
    ) -> list[aws.cloudwatch.MetricAlarm]:
        """What users of the synchronous path feel: errors, latency, unhealthy targets."""
        args = self._args
        return [
            self._alarm(
                "errors",
                name=names["errors"],
                description=f"{args.model}: more than {args.error_rate_threshold_percent:g}% of "
                "requests end in 5xx (engine errors or no healthy target)",
                threshold=args.error_rate_threshold_percent,
                periods=3,
                # No traffic is not an error.
                missing="notBreaching",
                queries=[
                    _metrics.metric("requests", "AWS/ApplicationELB", "RequestCount", tg, "Sum"),
                    _metrics.metric("target5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", tg, "Sum"),
                    _metrics.metric("elb5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", tg, "Sum"),
                    {
                        "id": "rate",
                        "label": "5xx per 100 requests",
                        "return_data": True,
                        "expression": (
                            "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / IF(FILL(requests, 0) > 0, requests, 1)"
                        ),
                    },
                ],
            ),
            self._alarm(
                "latency",
                name=names["latency"],
                description=f"{args.model}: p95 response time above {args.latency_objective_seconds:g} s",
                threshold=args.latency_objective_seconds,
                periods=5,
                missing="notBreaching",
                namespace="AWS/ApplicationELB",
                metric="TargetResponseTime",
                dimensions=tg,
                extended_statistic="p95",
            ),
            self._alarm(
                "unhealthy",
                name=names["unhealthy"],
                description=f"{args.model}: a target has failed health checks for {UNHEALTHY_MINUTES} minutes",
                threshold=1,
                periods=UNHEALTHY_MINUTES,
                # No targets registered (scaled to zero): nothing is unhealthy.
                missing="notBreaching",
                namespace="AWS/ApplicationELB",
                metric="UnHealthyHostCount",
                dimensions=tg,
                statistic="Maximum",
            ),
        ]

    def _alarm(
        self,
        label: str,
        *,
        description: str,
        threshold: float,
        periods: int,
        missing: str,
        name: str | None = None,
        comparison: str = "GreaterThanOrEqualToThreshold",
        queries: list[dict[str, Any]] | None = None,
        namespace: str | None = None,
        metric: str | None = None,
        dimensions: dict[str, pulumi.Input[str]] | None = None,
        statistic: str | None = None,
        extended_statistic: str | None = None,
    ) -> aws.cloudwatch.MetricAlarm:
        a = self._args
        kwargs: dict[str, Any] = {}
        if queries is not None:
            kwargs["metric_queries"] = [_metrics.alarm_query(q) for q in queries]
        else:
            kwargs.update(
                namespace=namespace, metric_name=metric, dimensions=dimensions, period=_metrics.PERIOD_SECONDS
            )
            if statistic:
                kwargs["statistic"] = statistic
            if extended_statistic:
                kwargs["extended_statistic"] = extended_statistic
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{label}",
            name=name,
            alarm_description=description,
            comparison_operator=comparison,
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=missing,
            alarm_actions=[a.alarm_topic_arn],
            ok_actions=[a.alarm_topic_arn],
            opts=self._child,
            **kwargs,
        )  # type: ignore[arg-type]

    def _refresh_events(self, args: ModelAlarmsArgs) -> None:
        """Instance refreshes that fail or roll back reach the topic through EventBridge."""
        pattern = pulumi.Output.from_input(args.group_names).apply(
            lambda names: json.dumps(
                {
                    "source": ["aws.autoscaling"],
                    "detail-type": [
                        "EC2 Auto Scaling Instance Refresh Failed",
                        "EC2 Auto Scaling Instance Refresh Rollback Started",
                        "EC2 Auto Scaling Instance Refresh Rollback Completed",
                        "EC2 Auto Scaling Instance Refresh Rollback Failed",
                    ],
                    "detail": {"AutoScalingGroupName": sorted(names)},
                },
                sort_keys=True,
            )
        )
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-refresh-failed",
            description=f"{args.model}: an instance refresh failed or rolled back",
            event_pattern=pattern,
            opts=self._child,
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-refresh-failed", rule=rule.name, arn=args.alarm_topic_arn, opts=self._child
        )
