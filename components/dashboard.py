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
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws

from components import _metrics
from model_server import metrics

WIDGET_WIDTH = 6
WIDGET_HEIGHT = 6
WIDGETS_PER_MODEL = 8
"""Two lines of four graphs per model (each backend's ``DashboardRow``)."""
MAX_WIDGETS = 500
"""CloudWatch: at most 500 widgets per dashboard (docs/reference.md#cloudwatch-dashboards)."""
MAX_MODELS = MAX_WIDGETS // WIDGETS_PER_MODEL
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,255}$"
"""CloudWatch dashboard names: letters, digits, ``-`` and ``_``, 1 to 255 characters
(PutDashboard; docs/reference.md#cloudwatch-dashboards)."""


def dashboard_name(stack: str) -> str:
    return f"llm-serving-{stack}"


class DashboardRow(Protocol):
    """What the dashboard shows of one model; each backend has its own (``components/<backend>/``)."""

    @property
    def name(self) -> str:
        """The model's name."""
        ...

    def values(self) -> pulumi.Output[dict[str, Any]]:
        """The row's resource names and ids (outputs), resolved together."""
        ...

    def widgets(self, values: dict[str, Any], y: int, region: str) -> list[dict[str, Any]]:
        """The row's ``WIDGETS_PER_MODEL`` graphs, two lines of four from height ``y``."""
        ...


@dataclass(frozen=True, kw_only=True)
class StackDashboardArgs:
    models: Sequence[DashboardRow]
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
        resolved = pulumi.Output.all(region, *[m.values() for m in args.models])
        body = resolved.apply(
            lambda values: json.dumps(
                {
                    "widgets": [
                        w
                        for i, (m, v) in enumerate(zip(args.models, values[1:], strict=True))
                        for w in m.widgets(v, i * 2 * WIDGET_HEIGHT, values[0])
                    ]
                },
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


def widget(title: str, x: int, y: int, region: str, metrics_: list[list[Any]], **props: Any) -> dict[str, Any]:
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


def queue_widget(name: str, x: int, y: int, region: str, queue: str, dead_letter_queue: str) -> dict[str, Any]:
    """The model's queue: waiting, in flight, dead letters, and the oldest request's age."""
    return widget(
        f"{name}: queue",
        x,
        y,
        region,
        [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, {"label": "waiting"}],
            ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", queue, {"label": "in flight"}],
            [
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                dead_letter_queue,
                {"label": "dead letters"},
            ],
            [
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                "QueueName",
                queue,
                {"label": "oldest (s)", "yAxis": "right", "stat": "Maximum"},
            ],
        ],
    )


def requests_widget(name: str, x: int, y: int, region: str, target_group: list[str]) -> dict[str, Any]:
    """Requests per second through the model's target group (``target_group``: the metric's
    LoadBalancer and TargetGroup dimensions)."""
    return widget(
        f"{name}: requests per second",
        x,
        y,
        region,
        [
            ["AWS/ApplicationELB", "RequestCount", *target_group, {"id": "r", "stat": "Sum", "visible": False}],
            [{"expression": "r / PERIOD(r)", "label": "requests/s", "id": "rps"}],
        ],
    )


def latency_widget(name: str, x: int, y: int, region: str, target_group: list[str]) -> dict[str, Any]:
    """The target group's response time, p50, p95 and p99."""
    return widget(
        f"{name}: latency (s)",
        x,
        y,
        region,
        [
            ["AWS/ApplicationELB", "TargetResponseTime", *target_group, {"stat": stat, "label": stat}]
            for stat in ("p50", "p95", "p99")
        ],
    )


def row_values(name: str, **outputs: pulumi.Input[Any]) -> pulumi.Output[dict[str, Any]]:
    """A row's values (``DashboardRow.values``): the model's name and ``outputs`` resolved."""
    return pulumi.Output.all(**outputs).apply(lambda v: {"name": name, **v})


def worker_failures(name: str, *, retried_label: str) -> list[list[Any]]:
    """The worker's failed results and the engine errors it retried (every backend's errors graph)."""
    model_dim = [metrics.DIMENSION_MODEL, name]
    return [
        [metrics.NAMESPACE, metrics.FAILED, *model_dim, {"stat": "Sum", "label": "failed results"}],
        [metrics.NAMESPACE, metrics.ENGINE_ERRORS, *model_dim, {"stat": "Sum", "label": retried_label}],
    ]
