"""CloudWatch metric queries as data, shared by scaling policies, alarms and the dashboard,
and the dimension sets AWS publishes each metric under."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from model_server import metrics as worker_metrics

MICROSECONDS_PER_SECOND = 1_000_000
"""SageMaker's ModelLatency and OverheadLatency are in microseconds (docs/reference.md#sagemaker)."""
PERIOD_SECONDS = 60
"""One minute: SQS, ALB and Auto Scaling group metrics arrive once a minute."""

_ALB_ANY = (
    frozenset({"LoadBalancer"}),
    frozenset({"LoadBalancer", "AvailabilityZone"}),
    frozenset({"LoadBalancer", "TargetGroup"}),
    frozenset({"LoadBalancer", "TargetGroup", "AvailabilityZone"}),
)
_ALB_TARGET_GROUP = (
    frozenset({"LoadBalancer", "TargetGroup"}),
    frozenset({"LoadBalancer", "TargetGroup", "AvailabilityZone"}),
)
_ALB_LOAD_BALANCER = (frozenset({"LoadBalancer"}), frozenset({"LoadBalancer", "AvailabilityZone"}))
_QUEUE = (frozenset({"QueueName"}),)
_GROUP = (frozenset({"AutoScalingGroupName"}),)
_VARIANT = (frozenset({"EndpointName", "VariantName"}),)
_WORKER = (
    frozenset({worker_metrics.DIMENSION_MODEL}),
    frozenset({worker_metrics.DIMENSION_MODEL, worker_metrics.DIMENSION_INSTANCE}),
)

GROUP_METRICS = (
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTotalInstances",
    "GroupTerminatingInstances",
    "WarmPoolWarmedCapacity",
)
"""The group metrics each fleet group enables: Auto Scaling publishes only those a group
collects, so they are also the only ``AWS/AutoScaling`` metrics an alarm may read."""


PUBLISHED_DIMENSIONS: Mapping[tuple[str, str], tuple[frozenset[str], ...]] = {
    # A metric queried under a dimension set AWS does not publish it under has no data: an
    # alarm on it never fires (docs/reference.md#cloudwatch-alarms-and-metrics; AWS, "CloudWatch
    # metrics for your Application Load Balancer", "Available CloudWatch metrics for Amazon SQS",
    # "Amazon CloudWatch metrics for Amazon EC2 Auto Scaling").
    ("AWS/ApplicationELB", "RequestCount"): _ALB_ANY,
    ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"): _ALB_ANY,
    ("AWS/ApplicationELB", "TargetResponseTime"): _ALB_ANY,
    ("AWS/ApplicationELB", "TargetConnectionErrorCount"): _ALB_ANY,
    ("AWS/ApplicationELB", "HealthyHostCount"): _ALB_TARGET_GROUP,
    ("AWS/ApplicationELB", "UnHealthyHostCount"): _ALB_TARGET_GROUP,
    # Errors the load balancer itself answers (502, 503, 504) are counted per load balancer
    # only, never per target group.
    ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"): _ALB_LOAD_BALANCER,
    **{
        ("AWS/SQS", name): _QUEUE
        for name in (
            "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateAgeOfOldestMessage",
            "NumberOfMessagesReceived",
            "NumberOfMessagesSent",
        )
    },
    **{("AWS/AutoScaling", name): _GROUP for name in GROUP_METRICS},
    # AWS, "Amazon SageMaker AI metrics in Amazon CloudWatch": invocation metrics per
    # endpoint and variant; the instances' utilization in /aws/sagemaker/Endpoints.
    **{
        ("AWS/SageMaker", name): _VARIANT
        for name in (
            "Invocations",
            "Invocation4XXErrors",
            "Invocation5XXErrors",
            "ModelLatency",
            "OverheadLatency",
            "ConcurrentRequestsPerModel",
        )
    },
    **{
        ("/aws/sagemaker/Endpoints", name): _VARIANT
        for name in ("GPUUtilization", "GPUMemoryUtilization", "CPUUtilization", "MemoryUtilization", "DiskUtilization")
    },
    **{
        (worker_metrics.NAMESPACE, name): _WORKER
        for name in (
            worker_metrics.IN_FLIGHT,
            worker_metrics.ENGINE_QUEUE,
            worker_metrics.TOKENS_PER_SECOND,
            worker_metrics.QUEUE_WAIT,
            worker_metrics.GENERATION_TIME,
            worker_metrics.SUCCEEDED,
            worker_metrics.FAILED,
            worker_metrics.ENGINE_ERRORS,
            worker_metrics.ENDPOINT_INSTANCES,
        )
    },
}


def unpublished(namespace: str, name: str, dimension_names: frozenset[str]) -> str | None:
    """Why ``name`` has no data under these dimensions, or None when AWS publishes it so."""
    published = PUBLISHED_DIMENSIONS.get((namespace, name))
    if published is None:
        return f"{namespace} {name} is not in the table of published metrics (components/_metrics.py)"
    if dimension_names not in published:
        sets = " or ".join("{" + ", ".join(sorted(s)) + "}" for s in published)
        return f"{namespace} {name} is published per {sets}, not per {{{', '.join(sorted(dimension_names))}}}"
    return None


def metric(
    id_: str, namespace: str, name: str, dimensions: Mapping[str, pulumi.Input[str]], stat: str
) -> dict[str, object]:
    """A metric to query, by its real dimensions (outputs of the watched resources). Refuses a
    dimension set AWS does not publish the metric under: such a query would watch nothing."""
    problem = unpublished(namespace, name, frozenset(dimensions))
    if problem is not None:
        raise ValueError(problem)
    return {"id": id_, "namespace": namespace, "metric_name": name, "dimensions": dict(dimensions), "stat": stat}


def alarm_query(q: Mapping[str, object]) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    """A metric or an expression (``{"id", "expression", "label", "return_data"?}``) as an
    alarm's metric query."""
    if "expression" in q:
        return aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=str(q["id"]),
            expression=str(q["expression"]),
            label=str(q["label"]),
            return_data=bool(q.get("return_data", False)),
        )
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=str(q["id"]),
        return_data=False,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=str(q["namespace"]),
            metric_name=str(q["metric_name"]),
            stat=str(q["stat"]),
            period=PERIOD_SECONDS,
            dimensions=q["dimensions"],  # type: ignore[arg-type]
        ),
    )


def group_metric(id_: str, name: str, group_name: pulumi.Input[str], stat: str = "Average") -> dict[str, object]:
    """An Auto Scaling group metric (the group must enable it in ``enabled_metrics``)."""
    return metric(id_, "AWS/AutoScaling", name, {"AutoScalingGroupName": group_name}, stat)


def spot_shortfall(id_: str, spot_group_name: pulumi.Input[str]) -> list[dict[str, object]]:
    """Instances the spot group wants but has neither running nor launching: what the
    on-demand fallback covers and what the shortfall alarm reports. The expression is
    ``id_``; its inputs are ``<id_>_desired``, ``<id_>_inservice``, ``<id_>_pending``."""
    return [
        group_metric(f"{id_}_desired", "GroupDesiredCapacity", spot_group_name),
        group_metric(f"{id_}_inservice", "GroupInServiceInstances", spot_group_name),
        group_metric(f"{id_}_pending", "GroupPendingInstances", spot_group_name),
        {
            "id": id_,
            "label": "spot desired but not running",
            "expression": positive(f"FILL({id_}_desired, 0) - FILL({id_}_inservice, 0) - FILL({id_}_pending, 0)"),
        },
    ]


def positive(expression: str) -> str:
    """``expression`` where it is above 0, else 0: metric math's IF with scalars, which every
    CloudWatch consumer (alarms, target tracking, dashboards) evaluates per data point."""
    return f"IF(({expression}) > 0, {expression}, 0)"
