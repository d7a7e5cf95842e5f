"""One CloudWatch dashboard for the stack: a row of graphs per model.

Per model: requests per second, latency p50/p95/p99, tokens per second, queue depth and
age (and dead letters), in-flight requests and engine queue per instance, instances in
service (spot, on-demand, warm pool), errors, and an estimated cost per hour from the
instances in service and the catalog's prices.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import _metrics
from model_server import metrics

SPOT_PRICE_FRACTION = 0.5
"""Spot GPU prices run at about 35 to 60% of on-demand (docs/reference.md#gpus-and-prices): the cost
graph is an estimate, the bill is the truth."""
WIDGET_WIDTH = 6
WIDGET_HEIGHT = 6
WIDGETS_PER_MODEL = 8
"""Two lines of four graphs (``model_widgets``)."""
MAX_WIDGETS = 500
"""CloudWatch: at most 500 widgets per dashboard (docs/reference.md#cloudwatch-dashboards)."""
MAX_MODELS = MAX_WIDGETS // WIDGETS_PER_MODEL
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,255}$"
"""CloudWatch dashboard names: letters, digits, ``-`` and ``_``, 1 to 255 characters
(PutDashboard; docs/reference.md#cloudwatch-dashboards)."""


def dashboard_name(stack: str) -> str:
    return f"llm-serving-{stack}"


@dataclass(frozen=True, kw_only=True)
class DashboardModel:
    """What the dashboard shows of one model: its resources' names (outputs) and prices."""

    name: str
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    queue_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    on_demand_group_name: pulumi.Input[str] | None
    spot_group_name: pulumi.Input[str] | None
    on_demand_usd_per_hour: float
    """Catalog price of the on-demand instance type (the first of the model's types)."""


@dataclass(frozen=True, kw_only=True)
class StackDashboardArgs:
    models: Sequence[DashboardModel]
    name: str
    """The dashboard's name (``dashboard_name``): letters, digits, ``-`` and ``_`` only."""

    def __post_init__(self) -> None:
        if len(self.models) > MAX_MODELS:
            raise ValueError(f"a dashboard holds at most {MAX_WIDGETS} widgets: {MAX_MODELS} models")
        if not re.fullmatch(NAME_PATTERN, self.name):
            raise ValueError(f"dashboard name {self.name!r}: only letters, digits, - and _ (up to 255)")


class StackDashboard(pulumi.ComponentResource):
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: StackDashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:StackDashboard", name, None, opts)
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        resolved = pulumi.Output.all(region, *[_resolve(m) for m in args.models])
        body = resolved.apply(
            lambda values: json.dumps(
                {"widgets": [w for i, m in enumerate(values[1:]) for w in model_widgets(m, i, values[0])]},
                sort_keys=True,
            )
        )
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.name,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_name = dashboard.dashboard_name
        self.register_outputs({"dashboard_name": self.dashboard_name})


def _resolve(m: DashboardModel) -> pulumi.Output[dict[str, Any]]:
    return pulumi.Output.all(
        m.load_balancer_arn_suffix,
        m.target_group_arn_suffix,
        m.queue_name,
        m.dead_letter_queue_name,
        m.on_demand_group_name,
        m.spot_group_name,
    ).apply(
        lambda v: {
            "name": m.name,
            "lb": v[0],
            "tg": v[1],
            "queue": v[2],
            "dlq": v[3],
            "od": v[4],
            "spot": v[5],
            "price": m.on_demand_usd_per_hour,
        }
    )


def _widget(title: str, x: int, y: int, region: str, metrics_: list[list[Any]], **props: Any) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": WIDGET_WIDTH,
        "height": WIDGET_HEIGHT,
        "properties": {
            "title": title,
            "region": region,
            "period": _metrics.PERIOD_SECONDS,
            "view": "timeSeries",
            "metrics": metrics_,
            **props,
        },
    }


def model_widgets(m: dict[str, Any], row: int, region: str) -> list[dict[str, Any]]:
    """The dashboard row of one model (two lines of four graphs)."""
    name, y = m["name"], row * 2 * WIDGET_HEIGHT
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
    w = WIDGET_WIDTH
    return [
        _widget(
            f"{name}: requests per second",
            0,
            y,
            region,
            [
                ["AWS/ApplicationELB", "RequestCount", *tg, {"id": "r", "stat": "Sum", "visible": False}],
                [{"expression": "r / PERIOD(r)", "label": "requests/s", "id": "rps"}],
            ],
        ),
        _widget(
            f"{name}: latency (s)",
            w,
            y,
            region,
            [
                ["AWS/ApplicationELB", "TargetResponseTime", *tg, {"stat": stat, "label": stat}]
                for stat in ("p50", "p95", "p99")
            ],
        ),
        _widget(
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
        _widget(
            f"{name}: queue",
            3 * w,
            y,
            region,
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", m["queue"], {"label": "waiting"}],
                ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", m["queue"], {"label": "in flight"}],
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", m["dlq"], {"label": "dead letters"}],
                [
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    "QueueName",
                    m["queue"],
                    {"label": "oldest (s)", "yAxis": "right", "stat": "Maximum"},
                ],
            ],
        ),
        _widget(
            f"{name}: per instance",
            0,
            y + WIDGET_HEIGHT,
            region,
            [
                [metrics.NAMESPACE, metrics.IN_FLIGHT, *model_dim, {"stat": "Average", "label": "in flight"}],
                [metrics.NAMESPACE, metrics.ENGINE_QUEUE, *model_dim, {"stat": "Average", "label": "engine queue"}],
            ],
        ),
        _widget(
            f"{name}: instances",
            w,
            y + WIDGET_HEIGHT,
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
        _widget(
            f"{name}: errors",
            2 * w,
            y + WIDGET_HEIGHT,
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
                [metrics.NAMESPACE, metrics.FAILED, *model_dim, {"stat": "Sum", "label": "failed results"}],
                [
                    metrics.NAMESPACE,
                    metrics.ENGINE_ERRORS,
                    *model_dim,
                    {"stat": "Sum", "label": "retried engine errors"},
                ],
            ],
        ),
        _widget(
            f"{name}: estimated cost (USD/hour)",
            3 * w,
            y + WIDGET_HEIGHT,
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
