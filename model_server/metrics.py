"""Names of the metrics the worker publishes: one source for the worker, the fleet's
scaling policy, the alarms and the dashboard.

The worker publishes every metric in ``NAMESPACE`` with high resolution (1 s storage) and
two dimension sets: ``{Model}`` (what scaling and alarms read: one series per model across
its instances) and ``{Model, InstanceId}`` (per instance, for the dashboard and debugging).
"""

from __future__ import annotations

NAMESPACE = "LLMServing/Worker"
"""CloudWatch namespace of every worker metric."""

DIMENSION_MODEL = "Model"
"""The model's name in the stack (the ``models`` key in stack config)."""
DIMENSION_INSTANCE = "InstanceId"
"""The EC2 instance id, or the host name off EC2."""

IN_FLIGHT = "InFlightRequests"
"""Gauge, Count: requests the worker has taken from the queue and not finished.
Scaling reads its Average over ``{Model}``: in flight per instance."""
ENGINE_QUEUE = "EngineQueueSize"
"""Gauge, Count: requests waiting inside the engine (from its Prometheus metrics)."""
TOKENS_PER_SECOND = "GeneratedTokensPerSecond"
"""Gauge, Count/Second: completion tokens generated per second by this worker's requests."""
QUEUE_WAIT = "QueueWaitSeconds"
"""Per request, Seconds: from the message's send to the start of its generation."""
GENERATION_TIME = "GenerationSeconds"
"""Per request, Seconds: time the engine took to answer."""
SUCCEEDED = "SucceededRequests"
"""Per request, Count: a ``succeeded`` result was written."""
FAILED = "FailedRequests"
"""Per request, Count: a ``failed`` result was written (permanent engine error)."""
ENGINE_ERRORS = "EngineErrors"
"""Per event, Count: a transient engine error (429, 503, timeout) that released a message."""

STORAGE_RESOLUTION_SECONDS = 1
"""High resolution, so target tracking can react in 10 s periods rather than minutes."""
PUBLISH_INTERVAL_SECONDS = 10
"""How often the gauges are published: the shortest period a high-resolution alarm uses."""
ENDPOINT_INSTANCES = "EndpointInstances"
"""Gauge, Count: instances the model's SageMaker endpoint runs (its variant's
CurrentInstanceCount), published by the queue worker: SageMaker publishes no instance count,
and the backlog-per-instance scaling and the too-few-instances alarm need one."""
