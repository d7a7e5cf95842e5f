"""Alarms of one model: what its users feel and what its fleet feels.

Creates, each sending to the stack's alarm topic, each with ``treat_missing_data`` chosen
for what missing data means for that metric, each with dimensions taken from the watched
resources' outputs and published by AWS for that metric:
- user-facing: the model's error rate (its engines' 5xx and the connections the load
  balancer could not open to them, per request of its target group), p95 target response
  time against the latency objective, age of the oldest queued request against the queue
  objective, work waiting in the queue that nobody receives, any message in the
  dead-letter queue, the worker's failed-result rate;
- fleet: unhealthy hosts for several minutes, healthy hosts below the minimum while the
  fleet is meant to be up (only when the minimum is above 0), spot shortfall (the
  fallback's trigger), and instance refreshes that fail or roll back (an EventBridge rule
  to the topic).

``LoadBalancerAlarms`` watches what the shared load balancer answers itself (502, 503,
504): AWS counts those per load balancer only, never per target group.

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

from components import _events, _metrics
from model_server import metrics

UNHEALTHY_MINUTES = 5
"""Longer than the health check's own 100 s tolerance, so a flapping /health under load
does not page anyone."""
FAILED_RESULT_RATE_THRESHOLD_PERCENT = 5.0
"""Permanent failures (bad requests) above 5% of results usually mean a client or model
change broke requests, not one bad prompt."""
ERROR_RATE_THRESHOLD_PERCENT = 5.0
"""5xx above 5% of requests for 3 minutes: a broken engine or rollout, not a stray error."""
QUIET_MARGIN_SECONDS = 300
"""Added to the slowest start a consumer may take before "nobody consumes" is declared."""
REFRESH_EVENTS = (
    _events.REFRESH_FAILED,
    _events.REFRESH_ROLLBACK_STARTED,
    _events.REFRESH_ROLLBACK_SUCCEEDED,
    _events.REFRESH_ROLLBACK_FAILED,
)
"""Instance refreshes people must hear about: a failure, and any rollback (a rollback that
succeeds still means the new version was refused)."""


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
    group_names: Sequence[pulumi.Input[str]] = ()
    """The fleet's Auto Scaling groups: refresh failures of these are reported, and the
    minimum-healthy alarm holds only while their desired capacity reaches the minimum."""
    spot_group_name: pulumi.Input[str] | None = None
    """The spot group, for the shortfall alarm; None when the model has no spot group."""
    min_healthy_hosts: int = 0
    """Alarm when fewer healthy targets than this; 0 (scale to zero) turns it off."""
    latency_objective_seconds: float = 30.0
    queue_age_objective_seconds: int = 600
    error_rate_threshold_percent: float = ERROR_RATE_THRESHOLD_PERCENT
    slowest_consumer_start_seconds: int = 1800
    """The longest the queue may hold work with no receive while all is well: a scale-out
    from zero (boot, image, weights, load) or one generation, whichever is longer. "Nobody
    consumes" is declared 5 minutes after it."""

    def __post_init__(self) -> None:
        # An alarm evaluates at most one day of periods (CloudWatch PutMetricAlarm:
        # EvaluationPeriods x Period <= 86400 s; docs/reference.md#cloudwatch-alarms-and-metrics).
        if self.quiet_minutes * _metrics.PERIOD_SECONDS > 86400:
            raise ValueError("slowest_consumer_start_seconds must be under a day")

    @property
    def quiet_minutes(self) -> int:
        return -(-(self.slowest_consumer_start_seconds + QUIET_MARGIN_SECONDS) // 60)


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
                # SQS reports the age only while the queue holds a message, and stops
                # reporting an idle queue: no data means nothing is waiting.
                missing="notBreaching",
                namespace="AWS/SQS",
                metric="ApproximateAgeOfOldestMessage",
                dimensions={"QueueName": args.queue_name},
                statistic="Maximum",
            ),
            self._alarm(
                "not-consumed",
                description=f"{args.model}: requests are waiting and no worker has received one for "
                f"{args.quiet_minutes} minutes (no instance serving, or workers failing)",
                threshold=1,
                periods=args.quiet_minutes,
                # An idle queue sends no metrics: quiet, as it should be.
                missing="notBreaching",
                queries=[
                    _metrics.metric(
                        "waiting",
                        "AWS/SQS",
                        "ApproximateNumberOfMessagesVisible",
                        {"QueueName": args.queue_name},
                        "Maximum",
                    ),
                    _metrics.metric(
                        "received", "AWS/SQS", "NumberOfMessagesReceived", {"QueueName": args.queue_name}, "Sum"
                    ),
                    {
                        "id": "unserved",
                        "label": "work waiting, nothing received",
                        "return_data": True,
                        "expression": "IF(FILL(waiting, 0) > 0 AND FILL(received, 0) == 0, 1, 0)",
                    },
                ],
            ),
            self._alarm(
                "dead-letters",
                description=f"{args.model}: requests ended in the dead-letter queue; inspect "
                "them, then redrive or delete",
                threshold=1,
                periods=1,
                # SQS stops reporting a queue nobody touches, even one holding dead letters:
                # keep the last state rather than clear an alarm nobody has handled.
                missing="ignore",
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
            alarms.append(self._too_few_healthy(tg))
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
        if args.group_names:
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
                "requests fail (engine 5xx, or the load balancer cannot connect to an engine)",
                threshold=args.error_rate_threshold_percent,
                periods=3,
                # No traffic is not an error.
                missing="notBreaching",
                queries=[
                    _metrics.metric("requests", "AWS/ApplicationELB", "RequestCount", tg, "Sum"),
                    _metrics.metric("target5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", tg, "Sum"),
                    # A crashed engine refuses connections: the load balancer answers 502 and
                    # counts the failure here, per target group (its own 5xx count is not).
                    _metrics.metric("refused", "AWS/ApplicationELB", "TargetConnectionErrorCount", tg, "Sum"),
                    {
                        "id": "rate",
                        "label": "failed per 100 requests",
                        "return_data": True,
                        "expression": (
                            "100 * (FILL(target5xx, 0) + FILL(refused, 0)) / IF(FILL(requests, 0) > 0, requests, 1)"
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

    def _too_few_healthy(self, tg: dict[str, pulumi.Input[str]]) -> aws.cloudwatch.MetricAlarm:
        """Healthy targets below the minimum while the fleet is meant to have it: a model
        switched off by its schedule (desired capacity 0) pages nobody."""
        args = self._args
        desired = [
            _metrics.group_metric(f"desired{i}", "GroupDesiredCapacity", name, stat="Maximum")
            for i, name in enumerate(args.group_names)
        ]
        wanted = " + ".join(f"FILL({q['id']}, 0)" for q in desired) if desired else str(args.min_healthy_hosts)
        return self._alarm(
            "too-few-healthy",
            description=f"{args.model}: fewer than {args.min_healthy_hosts} healthy targets while the fleet "
            "should have them",
            threshold=1,
            periods=3,
            # Missing health data from a target group that should have targets counts as none
            # healthy (FILL below); no group data means nothing is known to be wanted.
            missing="notBreaching",
            queries=[
                _metrics.metric("healthy", "AWS/ApplicationELB", "HealthyHostCount", tg, "Minimum"),
                *desired,
                {
                    "id": "missing",
                    "label": "healthy targets short of the minimum",
                    "return_data": True,
                    "expression": f"IF({wanted} >= {args.min_healthy_hosts}, "
                    f"{args.min_healthy_hosts} - FILL(healthy, 0), 0)",
                },
            ],
        )

    def _alarm(self, label: str, **settings: Any) -> aws.cloudwatch.MetricAlarm:
        return topic_alarm(f"{self._name}-{label}", self._args.alarm_topic_arn, self._child, **settings)

    def _refresh_events(self, args: ModelAlarmsArgs) -> None:
        """Instance refreshes that fail or roll back reach the topic through EventBridge."""
        pattern = pulumi.Output.all(*args.group_names).apply(
            lambda names: json.dumps(
                {
                    "source": [_events.AUTOSCALING_SOURCE],
                    "detail-type": list(REFRESH_EVENTS),
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


def topic_alarm(
    resource_name: str,
    topic_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
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
    """An alarm that tells the topic when it fires and when it clears: on ``periods`` periods
    out of ``periods``, over one metric or metric math (``queries``)."""
    kwargs: dict[str, Any] = {}
    if queries is not None:
        kwargs["metric_queries"] = [_metrics.alarm_query(q) for q in queries]
    else:
        kwargs.update(namespace=namespace, metric_name=metric, dimensions=dimensions, period=_metrics.PERIOD_SECONDS)
        if statistic:
            kwargs["statistic"] = statistic
        if extended_statistic:
            kwargs["extended_statistic"] = extended_statistic
    return aws.cloudwatch.MetricAlarm(
        resource_name,
        name=name,
        alarm_description=description,
        comparison_operator=comparison,
        threshold=threshold,
        evaluation_periods=periods,
        datapoints_to_alarm=periods,
        treat_missing_data=missing,
        alarm_actions=[topic_arn],
        ok_actions=[topic_arn],
        opts=opts,
        **kwargs,
    )


@dataclass(frozen=True, kw_only=True)
class LoadBalancerAlarmsArgs:
    name_prefix: str
    """``llm-<stack>-``: alarm names start with it."""
    alarm_topic_arn: pulumi.Input[str]
    load_balancer_arn_suffix: pulumi.Input[str]
    error_rate_threshold_percent: float = ERROR_RATE_THRESHOLD_PERCENT


class LoadBalancerAlarms(pulumi.ComponentResource):
    """What the shared load balancer answers itself: 502, 503 and 504 (no healthy target,
    an engine that closed the connection or timed out). AWS counts these per load balancer,
    so one alarm watches them for every model behind it."""

    alarm_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: LoadBalancerAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:LoadBalancerAlarms", name, None, opts)
        lb = {"LoadBalancer": args.load_balancer_arn_suffix}
        alarm = topic_alarm(
            f"{name}-elb-5xx",
            args.alarm_topic_arn,
            pulumi.ResourceOptions(parent=self),
            name=f"{args.name_prefix}load-balancer-5xx-rate",
            description=f"the load balancer answers more than {args.error_rate_threshold_percent:g}% "
            "of requests with its own 5xx (no healthy target, or engines closing or timing out)",
            threshold=args.error_rate_threshold_percent,
            periods=3,
            # No traffic is not an error.
            missing="notBreaching",
            queries=[
                _metrics.metric("requests", "AWS/ApplicationELB", "RequestCount", lb, "Sum"),
                _metrics.metric("elb5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, "Sum"),
                {
                    "id": "rate",
                    "label": "load balancer 5xx per 100 requests",
                    "return_data": True,
                    # Requests refused before a target was chosen (503: no healthy target)
                    # are not in RequestCount: divide by the larger of the two, so a fleet
                    # with no target at all shows 100%.
                    "expression": "100 * FILL(elb5xx, 0) / IF(FILL(requests, 0) > FILL(elb5xx, 0), "
                    "FILL(requests, 0), IF(FILL(elb5xx, 0) > 0, FILL(elb5xx, 0), 1))",
                },
            ],
        )
        self.alarm_names = pulumi.Output.all(alarm.name)
        self.register_outputs({"alarm_names": self.alarm_names})
