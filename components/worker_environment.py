"""The queue worker's environment: its whole configuration (docs/worker.md), the same contract
on every backend that runs it beside an engine (EC2 instances, EKS pods).

What differs by backend is an argument, never a second list of keys: the EMF endpoint (the
CloudWatch agent on EC2, stdout on EKS), the agent's log group, the lifecycle hook (EC2
only: Auto Scaling has hooks, Kubernetes stops a pod with SIGTERM) and instance metadata
(EC2's; a pod does not reach it).
"""

from __future__ import annotations

from typing import TypeVar

from model_server.engines import Engine

V = TypeVar("V")
"""A value known now (``str``, EC2's rendered user data) or later (a Pulumi output, a pod's env)."""


def worker_environment(
    *,
    model: str,
    engine: Engine,
    region: V,
    queue_url: V,
    results_bucket: V,
    max_in_flight: int,
    drain_seconds: int,
    emf_endpoint: str,
    lifecycle_hook_name: str | None = None,
    emf_log_group: V | None = None,
    instance_metadata: bool = True,
) -> dict[str, V | str]:
    """The worker container's environment beside ``engine`` on 127.0.0.1 (same host or pod)."""
    env: dict[str, V | str] = {
        "AWS_REGION": region,
        "WORKER_QUEUE_URL": queue_url,
        "WORKER_RESULTS_BUCKET": results_bucket,
        "WORKER_MODEL": model,
        "WORKER_ENGINE": engine.name,
        "WORKER_ENGINE_URL": f"http://127.0.0.1:{engine.port}",
        "WORKER_MAX_IN_FLIGHT": str(max_in_flight),
        "WORKER_DRAIN_SECONDS": str(drain_seconds),
    }
    if lifecycle_hook_name is not None:
        env["WORKER_LIFECYCLE_HOOK_NAME"] = lifecycle_hook_name
    if not instance_metadata:
        env["WORKER_INSTANCE_METADATA"] = "false"
    env["WORKER_EMF_ENDPOINT"] = emf_endpoint
    if emf_log_group is not None:
        env["WORKER_EMF_LOG_GROUP"] = emf_log_group
    return env
