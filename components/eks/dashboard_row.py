"""The dashboard row of a model on EKS: its target group, queue and worker.

Pods have no Auto Scaling group to count: the healthy targets of the model's target group
are its serving pods. No cost graph: nodes are shared by the node pool and priced by
whatever size Auto Mode launched, which the catalog does not follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components import dashboard
from model_server import metrics


@dataclass(frozen=True, kw_only=True)
class PodsDashboardRow:
    name: str
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    queue_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]

    def values(self) -> pulumi.Output[dict[str, Any]]:
        return dashboard.row_values(
            self.name,
            lb=self.load_balancer_arn_suffix,
            tg=self.target_group_arn_suffix,
            queue=self.queue_name,
            dlq=self.dead_letter_queue_name,
        )

    def widgets(self, values: dict[str, Any], y: int, region: str) -> list[dict[str, Any]]:
        return pod_widgets(values, y, region)


def pod_widgets(m: dict[str, Any], y: int, region: str) -> list[dict[str, Any]]:
    """The dashboard row of one EKS model (two lines of four graphs)."""
    name, w, h = m["name"], dashboard.WIDGET_WIDTH, dashboard.WIDGET_HEIGHT
    tg = ["LoadBalancer", m["lb"], "TargetGroup", m["tg"]]
    model_dim = [metrics.DIMENSION_MODEL, name]
    return [
        dashboard.requests_widget(name, 0, y, region, tg),
        dashboard.latency_widget(name, w, y, region, tg),
        dashboard.widget(
            f"{name}: tokens per second",
            2 * w,
            y,
            region,
            [[metrics.NAMESPACE, metrics.TOKENS_PER_SECOND, *model_dim, {"stat": "Sum", "label": "tokens/s (pods)"}]],
        ),
        dashboard.queue_widget(name, 3 * w, y, region, m["queue"], m["dlq"]),
        dashboard.widget(
            f"{name}: per pod",
            0,
            y + h,
            region,
            [
                [metrics.NAMESPACE, metrics.IN_FLIGHT, *model_dim, {"stat": "Average", "label": "in flight"}],
                [metrics.NAMESPACE, metrics.ENGINE_QUEUE, *model_dim, {"stat": "Average", "label": "engine queue"}],
            ],
        ),
        dashboard.widget(
            f"{name}: pods",
            w,
            y + h,
            region,
            [
                ["AWS/ApplicationELB", "HealthyHostCount", *tg, {"stat": "Minimum", "label": "serving"}],
                ["AWS/ApplicationELB", "UnHealthyHostCount", *tg, {"stat": "Maximum", "label": "unhealthy"}],
            ],
        ),
        dashboard.widget(
            f"{name}: errors",
            2 * w,
            y + h,
            region,
            [
                ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *tg, {"stat": "Sum", "label": "engine 5xx"}],
                [
                    "AWS/ApplicationELB",
                    "TargetConnectionErrorCount",
                    *tg,
                    {"stat": "Sum", "label": "connections refused"},
                ],
                *dashboard.worker_failures(name, retried_label="retried engine errors"),
            ],
        ),
        dashboard.widget(
            f"{name}: queue worker",
            3 * w,
            y + h,
            region,
            [
                [metrics.NAMESPACE, metrics.SUCCEEDED, *model_dim, {"stat": "Sum", "label": "results"}],
                [metrics.NAMESPACE, metrics.QUEUE_WAIT, *model_dim, {"stat": "p95", "label": "queue wait p95 (s)"}],
            ],
        ),
    ]
