"""The seam between the stack and where a model runs.

``infra/program.py`` builds the stack's shared parts and each model's queue, then hands
the model to its backend (``backends()[model.backend]``, from ``BACKENDS``). A backend declares the model's
compute and returns what the shared parts need back: the names of the alarms that watch
it, its dashboard row and its exports. Adding a backend is a module here, its components
in ``components/<backend>/``, and one line in ``BACKENDS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi

from components.dashboard import DashboardRow
from components.load_balancer import ModelRouteArgs
from components.model_alarms import ModelAlarmsArgs
from components.request_queue import RequestQueue
from model_server.engines import ENGINES

if TYPE_CHECKING:
    from components.alarm_topic import AlarmTopic
    from components.load_balancer import ModelLoadBalancer
    from components.model_token import ModelToken
    from components.network import Network
    from components.results_bucket import ResultsBucket
    from components.weights_bucket import WeightsBucket
    from infra.config import ModelConfig, StackConfig


@dataclass(frozen=True)
class SharedStack:
    """The stack's parts every model uses."""

    network: Network
    results: ResultsBucket
    weights: WeightsBucket
    token: ModelToken
    topic: AlarmTopic
    balancer: ModelLoadBalancer
    parts: dict[str, Any] = field(default_factory=dict)
    """What a backend builds once per stack, on its first model, by key (the EKS backend's
    cluster and KEDA): later models of the backend reuse it."""


@dataclass(frozen=True)
class ModelRequest:
    """One model, as the stack hands it to its backend."""

    name: str
    model: ModelConfig
    config: StackConfig
    shared: SharedStack
    queue: RequestQueue
    """The model's request queue and dead-letter queue (shared by every backend)."""
    name_prefix: str
    """``llm-<stack>-<model>-``: physical names and alarm names start with it."""
    rule_priority: int
    """The model's listener-rule priority on the shared load balancer, for backends that
    route through it."""


@dataclass(frozen=True)
class ModelDeployment:
    """What a backend gives back to the shared parts."""

    alarm_names: pulumi.Output[list[str]]
    """Every alarm that watches the model (queue and compute): the smoke test checks that
    none is in ALARM."""
    dashboard_row: DashboardRow
    exports: Mapping[str, object]
    """The backend's own entries of the model's stack output, beside the queue's."""


def queue_alarms_args(request: ModelRequest, **compute: Any) -> ModelAlarmsArgs:
    """The model's alarms: the queue's, which every backend shares, and what ``compute``
    (the backend's part of ``ModelAlarmsArgs``) adds."""
    return ModelAlarmsArgs(
        model=request.name,
        name_prefix=request.name_prefix,
        alarm_topic_arn=request.shared.topic.topic_arn,
        queue_name=request.queue.queue_name,
        dead_letter_queue_name=request.queue.dead_letter_queue_name,
        **compute,
    )


def route_args(request: ModelRequest, **extra: Any) -> ModelRouteArgs:
    """The model's route on the stack's load balancer (for backends behind it): its engine's
    port and readiness path, its rule priority, and a deregistration delay that lets its longest
    generation finish; ``extra``: the backend's own ``ModelRouteArgs`` fields."""
    engine = ENGINES[request.model.engine]
    return ModelRouteArgs(
        vpc_id=request.shared.network.vpc_id,
        listener_arn=request.shared.balancer.listener_arn,
        engine_port=engine.port,
        readiness_path=engine.readiness_path,
        priority=request.rule_priority,
        deregistration_delay_seconds=request.model.max_generation_seconds,
        **extra,
    )


Backend = Callable[[ModelRequest], ModelDeployment]


BACKENDS: Mapping[str, str] = {
    "ec2": "infra.backends.ec2",
    "sagemaker": "infra.backends.sagemaker",
    "eks": "infra.backends.eks",
}
"""Each backend's module by its config name (``models.NAME.backend``)."""


def _imported_when_used(module: str) -> Backend:
    """A backend whose module is imported on its first model only: a stack without an EKS
    model never loads pulumi_kubernetes."""

    def build(request: ModelRequest) -> ModelDeployment:
        backend: Backend = importlib.import_module(module).build
        return backend(request)

    return build


def backends() -> dict[str, Backend]:
    """Each backend's ``build`` by its config name."""
    return {name: _imported_when_used(module) for name, module in BACKENDS.items()}
