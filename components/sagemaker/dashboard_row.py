"""The dashboard row of a model on SageMaker: its endpoint, queue and worker.

No cost graph: SageMaker bills its own per-hour price for each instance type, which this
project does not record (docs/reference.md#sagemaker); the instances graph shows what is billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components import _metrics, dashboard
from model_server import metrics


@dataclass(frozen=True, kw_only=True)
class EndpointDashboardRow:
    name: str
    endpoint_name: pulumi.Input[str]
    variant_name: pulumi.Input[str]
    queue_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]

    def values(self) -> pulumi.Output[dict[str, Any]]:
        return dashboard.row_values(
            self.name,
            endpoint=self.endpoint_name,
            variant=self.variant_name,
            queue=self.queue_name,
            dlq=self.dead_letter_queue_name,
        )

    def widgets(self, values: dict[str, Any], y: int, region: str) -> list[dict[str, Any]]:
        return endpoint_widgets(values, y, region)


def endpoint_widgets(m: dict[str, Any], y: int, region: str) -> list[dict[str, Any]]:
    """The dashboard row of one SageMaker model (two lines of four graphs)."""
    name, w, h = m["name"], dashboard.WIDGET_WIDTH, dashboard.WIDGET_HEIGHT
    variant = ["EndpointName", m["endpoint"], "VariantName", m["variant"]]
    model_dim = [metrics.DIMENSION_MODEL, name]
    instances = [metrics.NAMESPACE, metrics.ENDPOINT_INSTANCES, *model_dim]
    return [
        dashboard.widget(
            f"{name}: invocations per second",
            0,
            y,
            region,
            [
                ["AWS/SageMaker", "Invocations", *variant, {"id": "i", "stat": "Sum", "visible": False}],
                [{"expression": "i / PERIOD(i)", "label": "invocations/s", "id": "ips"}],
            ],
        ),
        dashboard.widget(
            f"{name}: model latency (s)",
            w,
            y,
            region,
            [
                ["AWS/SageMaker", "ModelLatency", *variant, {"id": f"l{stat}", "stat": stat, "visible": False}]
                for stat in ("p50", "p95", "p99")
            ]
            + [
                [{"expression": f"l{stat} / {_metrics.MICROSECONDS_PER_SECOND}", "label": stat, "id": f"s{stat}"}]
                for stat in ("p50", "p95", "p99")
            ],
        ),
        dashboard.widget(
            f"{name}: concurrent requests",
            2 * w,
            y,
            region,
            [["AWS/SageMaker", "ConcurrentRequestsPerModel", *variant, {"stat": "Average", "label": "per instance"}]],
        ),
        dashboard.queue_widget(name, 3 * w, y, region, m["queue"], m["dlq"]),
        dashboard.widget(
            f"{name}: GPU (% x GPUs)",
            0,
            y + h,
            region,
            [
                ["/aws/sagemaker/Endpoints", "GPUUtilization", *variant, {"stat": "Average", "label": "utilization"}],
                ["/aws/sagemaker/Endpoints", "GPUMemoryUtilization", *variant, {"stat": "Average", "label": "memory"}],
            ],
        ),
        dashboard.widget(f"{name}: instances", w, y + h, region, [[*instances, {"label": "in service"}]]),
        dashboard.widget(
            f"{name}: errors",
            2 * w,
            y + h,
            region,
            [
                ["AWS/SageMaker", "Invocation5XXErrors", *variant, {"stat": "Sum", "label": "endpoint 5xx"}],
                ["AWS/SageMaker", "Invocation4XXErrors", *variant, {"stat": "Sum", "label": "endpoint 4xx"}],
                *dashboard.worker_failures(name, retried_label="retried errors"),
            ],
        ),
        dashboard.widget(
            f"{name}: queue worker",
            3 * w,
            y + h,
            region,
            [
                [metrics.NAMESPACE, metrics.IN_FLIGHT, *model_dim, {"stat": "Sum", "label": "in flight"}],
                [metrics.NAMESPACE, metrics.TOKENS_PER_SECOND, *model_dim, {"stat": "Sum", "label": "tokens/s"}],
            ],
        ),
    ]
