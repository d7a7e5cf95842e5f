"""CloudWatch metric queries as data, shared by scaling policies, alarms and the dashboard."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

PERIOD_SECONDS = 60
"""One minute: SQS, ALB and Auto Scaling group metrics arrive once a minute."""


def metric(
    id_: str, namespace: str, name: str, dimensions: Mapping[str, pulumi.Input[str]], stat: str
) -> dict[str, object]:
    """A metric to query, by its real dimensions (outputs of the watched resources)."""
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
            "expression": f"MAX([FILL({id_}_desired, 0) - FILL({id_}_inservice, 0) - FILL({id_}_pending, 0), 0])",
        },
    ]
