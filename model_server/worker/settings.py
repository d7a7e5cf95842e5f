"""The worker's settings: environment variables prefixed ``WORKER_``, nothing else.

Each default is here, once, with the reason for it. docs/worker.md lists them for users.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_server import metrics
from model_server.engines import DEFAULT_ENGINE, ENGINES, Engine, EngineName
from model_server.messages import MODEL_PATTERN

EC2_METADATA_URL = "http://169.254.169.254"
"""EC2's instance metadata service (link-local, answered by the instance's hypervisor)."""

SAGEMAKER: Literal["sagemaker"] = "sagemaker"
"""``WORKER_ENGINE`` value for a model on a SageMaker real-time endpoint."""
WorkerEngine = EngineName | Literal["sagemaker"]

ENDPOINT_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
"""SageMaker's rule for endpoint names (EndpointName: at most 63 characters)."""

FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120
"""ECS on Fargate: a container's stopTimeout (SIGTERM to SIGKILL) is at most 120 s
(docs/reference.md#ecs-on-fargate); the drain must end within it in SageMaker mode."""


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WORKER_", extra="ignore", frozen=True)

    # --- What to serve -------------------------------------------------------------
    queue_url: str
    """The model's request queue."""
    results_bucket: str
    """Bucket that receives ``results/<model>/<id>.json``."""
    model: str = Field(pattern=MODEL_PATTERN)
    """The model's name in the stack: checked against each request, and sent as the
    engine request's ``model`` (vLLM's ``--served-model-name``)."""
    engine: WorkerEngine = DEFAULT_ENGINE
    """``tgi`` or ``vllm``: the engine beside the worker (its port and metric names).
    ``sagemaker``: the model runs on a SageMaker real-time endpoint (``endpoint_name``),
    the worker on ECS Fargate, so there is no instance metadata to watch."""
    engine_url: str | None = None
    """Base URL of the engine. Default: the engine's port on 127.0.0.1 (same host)."""
    endpoint_name: str | None = Field(None, pattern=ENDPOINT_NAME_PATTERN)
    """The SageMaker endpoint serving the model; required with ``engine=sagemaker``, and
    only then. AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (boto3's own) points the calls elsewhere."""

    # --- How much to take -------------------------------------------------------------
    max_in_flight: int = Field(8, ge=1, le=1024)
    """Messages held at once. 8 suits one 24 GB GPU batching long generations; set it to
    the engine's max concurrent requests minus the share kept for synchronous traffic."""
    max_in_flight_per_instance: int = Field(8, ge=1, le=1024)
    """SageMaker mode: messages held per endpoint instance; the cap follows the variants'
    CurrentInstanceCount (at most ``max_in_flight``, the hard ceiling). 8 as above: one
    instance's share of long generations."""
    poll_wait_seconds: int = Field(20, ge=0, le=20)
    """SQS long polling: 20 s (the maximum) makes the fewest empty receives."""
    visibility_timeout_seconds: int = Field(60, ge=1, le=43200)
    """How long a received message stays hidden; also how soon a crashed worker's
    messages are retried. Short, because the heartbeat extends it while work runs."""
    heartbeat_seconds: float = Field(20, gt=0)
    """How often a running generation extends its message's visibility: a third of the
    visibility timeout leaves two missed beats before another worker could take it."""
    max_request_age_seconds: float | None = Field(None, gt=0)
    """Requests older than this get a ``failed`` (expired) result instead of a generation.
    Unset: the queue's retention period is the only limit."""

    # --- Engine calls -------------------------------------------------------------------
    engine_timeout_seconds: float = Field(600, gt=0)
    """Longest generation allowed: a slow 8B model at 20 tokens/s writes 12k tokens."""
    engine_retry_attempts: int = Field(3, ge=1)
    """Attempts per delivery on a transient engine error (429, 503, timeout) before the
    message is released: overloads are usually gone within seconds."""
    engine_retry_max_wait_seconds: float = Field(4, ge=0)
    """Cap of the jittered exponential wait between those attempts."""
    readiness_poll_seconds: float = Field(2, gt=0)
    """How often a not-ready engine (loading weights) is checked again."""
    endpoint_refresh_seconds: float = Field(30, gt=0)
    """SageMaker mode: how old the endpoint's status and instance count (DescribeEndpoint)
    may be. Scaling an endpoint takes minutes, and DescribeEndpoint is a control-plane call
    with account-wide rate limits: twice a minute follows scaling closely enough."""

    # --- Releasing messages ---------------------------------------------------------------
    release_backoff_base_seconds: float = Field(10, ge=0)
    """Visibility of a message released after a transient failure, doubled per receive and
    jittered to 50-100%: other instances (or this one, recovered) get it a bit later."""
    release_backoff_max_seconds: float = Field(300, ge=0, le=43200)
    """Cap of that backoff; the dead-letter queue's maxReceiveCount bounds the retries."""

    # --- Stopping -------------------------------------------------------------------------
    drain_seconds: float = Field(100, gt=0)
    """Time to finish in-flight work on SIGTERM or a rebalance recommendation: under the
    2-minute spot notice, leaving room to release the rest and flush metrics."""
    lifecycle_drain_seconds: float = Field(300, gt=0)
    """Time to finish in-flight work on scale-in (lifecycle state Terminated): no 2-minute
    deadline there, the lifecycle heartbeat keeps the instance until the drain ends."""
    interruption_margin_seconds: float = Field(10, ge=0)
    """A spot interruption drain ends this long before the announced time, for the
    releases (SQS calls with retries) and the final metrics flush."""

    # --- Instance metadata and Auto Scaling -----------------------------------------------
    instance_metadata: bool = True
    """Watch EC2 instance metadata (spot notices, rebalance recommendations, the lifecycle
    state) and publish per instance id. Off in a Kubernetes pod, which the node's IMDS does
    not answer (hop limit 1), and always off in SageMaker mode (a Fargate task)."""
    imds_url: str = EC2_METADATA_URL
    imds_poll_seconds: float = Field(5, gt=0)
    """AWS's recommended polling period for the spot interruption notice."""
    imds_token_ttl_seconds: int = Field(21600, ge=1, le=21600)
    """IMDSv2 session token lifetime: the maximum, refreshed before expiry or on a 401."""
    autoscaling_group_name: str | None = None
    """Override of the group name read from instance metadata tags."""
    lifecycle_hook_name: str | None = None
    """The termination lifecycle hook to complete after a scale-in drain. Unset: the hook
    (if any) times out with its default result."""
    lifecycle_heartbeat_seconds: float = Field(60, gt=0)
    """RecordLifecycleActionHeartbeat period during a scale-in drain: must stay below the
    hook's heartbeat timeout (AWS's minimum is 30 s)."""

    # --- Observability --------------------------------------------------------------------
    emf_endpoint: str = "tcp://127.0.0.1:25888"
    """Where CloudWatch Embedded Metric Format documents go: the CloudWatch agent's EMF
    listener (tcp:// or udp://), ``stdout`` where stdout is shipped (EKS), or ``off``."""
    emf_log_group: str | None = None
    """CloudWatch Logs group the agent writes the EMF documents to (``_aws.LogGroupName``).
    Unset: the agent's default group, which it creates without a retention period."""
    metrics_interval_seconds: float = Field(metrics.PUBLISH_INTERVAL_SECONDS, gt=0)
    """How often metrics are published (one source: model_server.metrics)."""
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _heartbeat_inside_visibility(self) -> WorkerSettings:
        if self.heartbeat_seconds >= self.visibility_timeout_seconds:
            raise ValueError(
                f"WORKER_HEARTBEAT_SECONDS ({self.heartbeat_seconds}) must be below "
                f"WORKER_VISIBILITY_TIMEOUT_SECONDS ({self.visibility_timeout_seconds})"
            )
        return self

    @model_validator(mode="after")
    def _endpoint_name_with_sagemaker_only(self) -> WorkerSettings:
        if self.engine == SAGEMAKER and self.endpoint_name is None:
            raise ValueError(
                "WORKER_ENDPOINT_NAME is required when WORKER_ENGINE=sagemaker: set it to the model's endpoint name"
            )
        if self.engine != SAGEMAKER and self.endpoint_name is not None:
            raise ValueError(
                f"WORKER_ENDPOINT_NAME is set but WORKER_ENGINE is {self.engine!r}: "
                "set WORKER_ENGINE=sagemaker to serve the endpoint, or unset WORKER_ENDPOINT_NAME"
            )
        return self

    @property
    def on_sagemaker(self) -> bool:
        return self.engine == SAGEMAKER

    @property
    def watches_instance(self) -> bool:
        """EC2 instance metadata (spot notices, rebalance, lifecycle) applies: on EC2 only,
        not in a pod (WORKER_INSTANCE_METADATA=false) nor in SageMaker mode (a Fargate task)."""
        return self.instance_metadata and not self.on_sagemaker

    @property
    def engine_facts(self) -> Engine:
        if self.engine == SAGEMAKER:
            raise ValueError("a SageMaker endpoint has no local engine facts")
        return ENGINES[self.engine]

    @property
    def resolved_engine_url(self) -> str:
        if self.engine_url is not None:
            return self.engine_url.rstrip("/")
        return f"http://127.0.0.1:{self.engine_facts.port}"
