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
