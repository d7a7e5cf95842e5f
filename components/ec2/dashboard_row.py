"""The dashboard row of a model on EC2: its target group, queue, fleet and cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components import dashboard
from model_server import metrics

SPOT_PRICE_FRACTION = 0.5
"""Spot GPU prices run at about 35 to 60% of on-demand (docs/reference.md#gpus-and-prices): the cost
graph is an estimate, the bill is the truth."""


@dataclass(frozen=True, kw_only=True)
class FleetDashboardRow:
    """What the dashboard shows of one EC2 model: its resources' names (outputs) and prices."""

    name: str
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    queue_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    on_demand_group_name: pulumi.Input[str] | None
    spot_group_name: pulumi.Input[str] | None
    on_demand_usd_per_hour: float
    """Catalog price of the on-demand instance type (the first of the model's types)."""

    def values(self) -> pulumi.Output[dict[str, Any]]:
        return dashboard.row_values(
            self.name,
            lb=self.load_balancer_arn_suffix,
            tg=self.target_group_arn_suffix,
            queue=self.queue_name,
            dlq=self.dead_letter_queue_name,
            od=self.on_demand_group_name,
            spot=self.spot_group_name,
            price=self.on_demand_usd_per_hour,
        )

    def widgets(self, values: dict[str, Any], y: int, region: str) -> list[dict[str, Any]]:
        return fleet_widgets(values, y, region)


def fleet_widgets(m: dict[str, Any], y: int, region: str) -> list[dict[str, Any]]:
    """The dashboard row of one EC2 model (two lines of four graphs)."""
    name = m["name"]
    tg = ["LoadBalancer", m["lb"], "TargetGroup", m["tg"]]
    model_dim = [metrics.DIMENSION_MODEL, name]
    groups = [(kind, g) for kind, g in (("on-demand", m["od"]), ("spot", m["spot"])) if g]
    in_service = [
        [
            "AWS/AutoScaling",
            "GroupInServiceInstances",
            "AutoScalingGroupName",
            g,
            {"id": f"i{i}", "label": f"{kind} in service"},
        ]
        for i, (kind, g) in enumerate(groups)
    ]
    prices = {"on-demand": m["price"], "spot": round(m["price"] * SPOT_PRICE_FRACTION, 4)}
    cost = " + ".join(f"FILL(i{i}, 0) * {prices[kind]}" for i, (kind, _) in enumerate(groups)) or "0"
    n = " + ".join(f"FILL(i{i}, 0)" for i in range(len(groups))) or "0"
    w = dashboard.WIDGET_WIDTH
    return [
        dashboard.requests_widget(name, 0, y, region, tg),
        dashboard.latency_widget(name, w, y, region, tg),
        dashboard.widget(
            f"{name}: tokens per second",
            2 * w,
            y,
            region,
            [
                [
                    metrics.NAMESPACE,
                    metrics.TOKENS_PER_SECOND,
                    *model_dim,
                    {"id": "t", "stat": "Average", "visible": False},
                ],
                *[[*q[:-1], {**q[-1], "visible": False}] for q in in_service],
                [{"expression": f"FILL(t, 0) * ({n})", "label": "tokens/s (fleet)", "id": "tps"}],
            ],
        ),
        dashboard.queue_widget(name, 3 * w, y, region, m["queue"], m["dlq"]),
        dashboard.widget(
            f"{name}: per instance",
            0,
            y + dashboard.WIDGET_HEIGHT,
            region,
            [
                [metrics.NAMESPACE, metrics.IN_FLIGHT, *model_dim, {"stat": "Average", "label": "in flight"}],
                [metrics.NAMESPACE, metrics.ENGINE_QUEUE, *model_dim, {"stat": "Average", "label": "engine queue"}],
            ],
        ),
        dashboard.widget(
            f"{name}: instances",
            w,
            y + dashboard.WIDGET_HEIGHT,
            region,
            [
                *in_service,
                *[
                    ["AWS/AutoScaling", "WarmPoolWarmedCapacity", "AutoScalingGroupName", g, {"label": "warm pool"}]
                    for kind, g in groups
                    if kind == "on-demand"
                ],
            ],
        ),
        dashboard.widget(
            f"{name}: errors",
            2 * w,
            y + dashboard.WIDGET_HEIGHT,
            region,
            [
                ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *tg, {"stat": "Sum", "label": "engine 5xx"}],
                [
                    "AWS/ApplicationELB",
                    "TargetConnectionErrorCount",
                    *tg,
                    {"stat": "Sum", "label": "connections refused (502)"},
                ],
                # AWS counts the load balancer's own 5xx per load balancer only.
                [
                    "AWS/ApplicationELB",
                    "HTTPCode_ELB_5XX_Count",
                    "LoadBalancer",
                    m["lb"],
                    {"stat": "Sum", "label": "load balancer 5xx (all models)"},
                ],
                *dashboard.worker_failures(name, retried_label="retried engine errors"),
            ],
        ),
        dashboard.widget(
            f"{name}: estimated cost (USD/hour)",
            3 * w,
            y + dashboard.WIDGET_HEIGHT,
            region,
            [
                *[[*q[:-1], {**q[-1], "visible": False}] for q in in_service],
                [
                    {
                        "expression": cost,
                        "label": f"on-demand ${prices['on-demand']}/h, spot about ${prices['spot']}/h",
                        "id": "cost",
                    }
                ],
            ],
        ),
    ]
