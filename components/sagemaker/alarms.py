"""What users of a SageMaker model feel: its endpoint's errors, latency and capacity.

Creates, each sending to the stack's alarm topic, with dimensions from the endpoint's
outputs (its name and variant, never names made up here):
- the invocation 5xx error rate (SageMaker sends 1 per 5xx and 0 otherwise, so the
  average is the rate);
- p95 model latency against the latency objective (``ModelLatency`` is in microseconds);
- too few instances: the variant's instance count, which the queue worker reads from
  SageMaker and publishes, below the minimum.

The first two have fixed names (``alarm_names``): the endpoint's deployment rolls back on
them, and it is declared before them. The queue's alarms are ``ModelAlarms``'s, as on every
backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import _metrics
from components.model_alarms import ERROR_RATE_THRESHOLD_PERCENT, topic_alarm
from model_server import metrics


def alarm_names(prefix: str) -> dict[str, str]:
    """The fixed names of the alarms a deployment rolls back on."""
    return {"errors": f"{prefix}endpoint-5xx-rate", "latency": f"{prefix}endpoint-p95-latency"}


@dataclass(frozen=True, kw_only=True)
class EndpointAlarmsArgs:
    model: str
    name_prefix: str
    alarm_topic_arn: pulumi.Input[str]
    endpoint_name: pulumi.Input[str]
    variant_name: pulumi.Input[str]
    min_instances: int
    """Alarm below this many instances. A model with a schedule passes 1: its off-hours keep
    one instance, which must not page anyone every night."""
    latency_objective_seconds: float
    error_rate_threshold_percent: float = ERROR_RATE_THRESHOLD_PERCENT


class EndpointAlarms(pulumi.ComponentResource):
    alarm_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: EndpointAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:EndpointAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        names = alarm_names(args.name_prefix)
        variant = {"EndpointName": args.endpoint_name, "VariantName": args.variant_name}
        # Checked against what AWS publishes, as every other alarm's metric.
        for metric_name in ("Invocation5XXErrors", "ModelLatency"):
            problem = _metrics.unpublished("AWS/SageMaker", metric_name, frozenset(variant))
            if problem is not None:
                raise ValueError(problem)
        alarms = [
            topic_alarm(
                f"{name}-errors",
                args.alarm_topic_arn,
                child,
                name=names["errors"],
                description=f"{args.model}: more than {args.error_rate_threshold_percent:g}% of endpoint "
                "invocations answer 5xx",
                threshold=args.error_rate_threshold_percent,
                periods=3,
                # No traffic is not an error.
                missing="notBreaching",
                queries=[
                    _metrics.metric("errors", "AWS/SageMaker", "Invocation5XXErrors", variant, "Average"),
                    {
                        "id": "rate",
                        "label": "5xx per 100 invocations",
                        "return_data": True,
                        "expression": "100 * FILL(errors, 0)",
                    },
                ],
            ),
            topic_alarm(
                f"{name}-latency",
                args.alarm_topic_arn,
                child,
                name=names["latency"],
                description=f"{args.model}: p95 model latency above {args.latency_objective_seconds:g} s",
                threshold=args.latency_objective_seconds * _metrics.MICROSECONDS_PER_SECOND,
                periods=5,
                missing="notBreaching",
                namespace="AWS/SageMaker",
                metric="ModelLatency",
                dimensions=variant,
                extended_statistic="p95",
            ),
            topic_alarm(
                f"{name}-too-few-instances",
                args.alarm_topic_arn,
                child,
                description=f"{args.model}: the endpoint runs fewer than {args.min_instances} instances",
                threshold=args.min_instances,
                comparison="LessThanThreshold",
                periods=5,
                # The worker publishes the count while it runs; no data means nobody watches
                # the endpoint or serves its queue, which is worth a page too.
                missing="breaching",
                queries=[
                    _metrics.metric(
                        "instances",
                        metrics.NAMESPACE,
                        metrics.ENDPOINT_INSTANCES,
                        {metrics.DIMENSION_MODEL: args.model},
                        "Minimum",
                    ),
                    {"id": "count", "label": "instances in service", "return_data": True, "expression": "instances"},
                ],
            ),
        ]
        self.alarm_names = pulumi.Output.all(*[a.name for a in alarms])
        self.register_outputs({"alarm_names": self.alarm_names})
