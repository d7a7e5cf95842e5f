"""The stack config schema: everything under the ``llm-serving:`` namespace of a stack file.

Validated into one frozen ``StackConfig`` before any resource is declared. An invalid
config raises ``ConfigError`` whose lines name the full key path and the fix, e.g.
``llm-serving:models.chat.capacity.max: must be at least min (2)``: every problem in one
run, not only the first.

A config the plan accepts is one AWS accepts, as far as AWS's documented limits can be
checked offline: each limit checked here cites its source (docs/reference.md). What only
the account can tell (how many AZs the region has, whether an existing subnet is where the
config says) is checked by ``infra.preflight`` when ``pulumi preview`` runs the program.

Secrets never enter these models: the Hugging Face token is read separately as a Pulumi
secret (``read_hugging_face_token``).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.resources
import ipaddress
import json
import math
import os
import re
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components import _ecr, dashboard, load_balancer, network, request_queue, results_bucket, schedule
from components.ec2 import gpu_fleet
from components.eks import DEFAULT_KUBERNETES_VERSION, KEDA_CHART_VERSION, KEDA_KUBERNETES_VERSIONS
from components.sagemaker import worker_service
from infra import aws_limits, catalog, images, model_catalog
from infra.endpoint_services import INTERFACE_ENDPOINT_SERVICES
from model_server.engines import DEFAULT_MAX_CONCURRENT_REQUESTS, ENGINES, EngineName, EngineSettings, Quantization
from model_server.weights import layout

NAMESPACE = "llm-serving"
HUGGING_FACE_TOKEN_KEY = "huggingFaceToken"

MODEL_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,14}[a-z0-9]$"
"""Model names become parts of AWS names (target groups: 32 characters including Pulumi's
8-character random suffix and our own suffixes), S3 prefixes and metric dimensions."""

_HF_TOKEN_LOOKALIKE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")

_AWS_ID = r"(?:[0-9a-f]{8}|[0-9a-f]{17})"
"""EC2 resource ids: a prefix and 8 or 17 hex digits, nothing in between (EC2 User Guide,
"Resource IDs"; docs/reference.md#ec2-instances-and-amis)."""

STACK_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
"""The stack's name becomes part of AWS names: the dashboard (letters, digits, ``-``, ``_``
only: CloudWatch PutDashboard), alarm and group names (255 characters with the model's name
and suffixes). Pulumi itself also allows ``.`` (docs/reference.md#pulumi)."""
MAX_INTERFACE_ENDPOINTS = 50
"""Interface VPC endpoints per VPC, AWS's default quota (docs/reference.md#vpc-and-endpoints)."""
MAX_SECURITY_GROUP_RULES = aws_limits.MAX_RULES_PER_GROUP
MAX_LISTENER_RULES = aws_limits.MAX_RULES_PER_LOAD_BALANCER
"""One listener rule per model."""
MAX_MODELS = min(MAX_LISTENER_RULES, dashboard.MAX_MODELS)

Count = StrictInt
"""A whole number, never a boolean or a string (``max: true`` is an error, not 1)."""
Number = Annotated[float, Field(strict=True)]
"""A number (integer or decimal), never a boolean or a string."""


class _Problems:
    """Collects every broken rule of a section, so one run reports them all; ``at`` is the
    camelCase key relative to the section being validated."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, at: str, message: str) -> None:
        self.items.append((at, message))

    def raise_any(self) -> None:
        if self.items:
            raise PydanticCustomError(
                "config_rules", "{count} rules broken", {"count": len(self.items), "problems": self.items}
            )


class Section(BaseModel):
    # One spelling per key: camelCase (a snake_case key is an unknown key, as any typo is).
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        use_attribute_docstrings=True,
    )


# ---------------------------------------------------------------------------- network


class ExistingNetworkConfig(Section):
    """Deploy into a VPC you already have instead of creating one."""

    vpc_id: str = Field(pattern=rf"^vpc-{_AWS_ID}$")
    """The VPC to deploy into."""
    private_subnet_ids: list[Annotated[str, Field(pattern=rf"^subnet-{_AWS_ID}$")]] = Field(min_length=2)
    """Subnets of the GPU fleet, each in its own AZ (at least two); they need a route to the
    internet (NAT) or VPC endpoints for every AWS API the fleet calls. ``pulumi preview``
    checks their AZs in the account."""
    public_subnet_ids: list[Annotated[str, Field(pattern=rf"^subnet-{_AWS_ID}$")]] = []
    """Subnets of a public load balancer, each in its own AZ (at least two); unused when it
    is internal."""


class NetworkConfig(Section):
    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network(network.DEFAULT_CIDR)
    """Address range of a new VPC (default and why: components.network)."""
    availability_zones: Count = Field(network.DEFAULT_AVAILABILITY_ZONES, ge=2, le=6)
    """AZs to spread over: 2 at least, because the load balancer needs two and a single AZ
    is a single point of failure (and of spot capacity). ``pulumi preview`` checks the
    region has that many."""
    nat_gateways: network.NatGateways = network.DEFAULT_NAT_GATEWAYS
    """`single` is cheapest (one NAT, about $33/month); `perAz` survives the loss of an
    AZ. `none`: no internet at all, when every model's weights come from S3 and its images
    from ECR, through the interface endpoints listed in components.network."""
    interface_endpoints: list[str] = Field(
        list(network.DEFAULT_INTERFACE_ENDPOINTS), max_length=MAX_INTERFACE_ENDPOINTS
    )
    """Interface VPC endpoints (service names as in `com.amazonaws.<region>.<name>`), at
    most 50 (AWS's quota per VPC). An S3 gateway endpoint, which is free, is always created."""
    existing: ExistingNetworkConfig | None = None
    """Use an existing VPC: then cidr, availabilityZones, natGateways and
    interfaceEndpoints must not be set."""

    @field_validator("cidr")
    @classmethod
    def _cidr_size(cls, v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= v.prefixlen <= 22:
            raise ValueError(f"{v} must be a /16 to /22 so every AZ gets public and private subnets")
        return v

    @model_validator(mode="after")
    def _rules(self) -> NetworkConfig:
        problems = _Problems()
        if self.existing is not None:
            _existing_problems(self.existing, problems)
            for key in sorted(
                to_camel(f)
                for f in self.model_fields_set & {"cidr", "availability_zones", "nat_gateways", "interface_endpoints"}
            ):
                problems.add(key, "cannot be set together with network.existing; remove it or remove existing")
        resource_names: dict[str, int] = {}
        for i, service in enumerate(self.interface_endpoints):
            if service not in INTERFACE_ENDPOINT_SERVICES:
                close = difflib.get_close_matches(service, sorted(INTERFACE_ENDPOINT_SERVICES), n=1, cutoff=0.7)
                hint = f"did you mean {close[0]!r}? " if close else ""
                problems.add(
                    f"interfaceEndpoints[{i}]",
                    f"{service!r} is not an AWS service with interface VPC endpoints: {hint}"
                    "use the name in com.amazonaws.<region>.<name>, e.g. 'sqs' or 'ecr.api'",
                )
            # Each endpoint is a resource named after the service, dots made hyphens.
            resource = network.endpoint_resource_name("network", service)
            if resource in resource_names:
                first = resource_names[resource]
                problems.add(
                    f"interfaceEndpoints[{i}]",
                    f"{service!r} names the same endpoint as interfaceEndpoints[{first}] "
                    f"({self.interface_endpoints[first]!r}): list each service once",
                )
            else:
                resource_names[resource] = i
        problems.raise_any()
        return self


def _existing_problems(existing: ExistingNetworkConfig, problems: _Problems) -> None:
    private, public = existing.private_subnet_ids, existing.public_subnet_ids
    for key, ids in (("existing.privateSubnetIds", private), ("existing.publicSubnetIds", public)):
        for i, subnet in enumerate(ids):
            if subnet in ids[:i]:
                problems.add(f"{key}[{i}]", f"{subnet} is listed twice: each subnet stands for one AZ")
    for i, subnet in enumerate(public):
        if subnet in private:
            problems.add(
                f"existing.publicSubnetIds[{i}]",
                f"{subnet} is also a private subnet: the fleet and a public load balancer need separate subnets",
            )


# ---------------------------------------------------------------------- load balancer


def certificate_region_problem(certificate_arn: str | None, region: str | None) -> str | None:
    """Why the load balancer cannot use this ACM certificate in ``region`` (None: it can, or
    either is unknown): ACM certificates serve load balancers of their own region only."""
    if not certificate_arn or not region:
        return None
    cert_region = certificate_arn.split(":")[3]
    if cert_region == region:
        return None
    return (
        f"the certificate is in {cert_region}, the stack in {region}: a load balancer can only use "
        "an ACM certificate of its own region"
    )


class LoadBalancerConfig(Section):
    internal: StrictBool = True
    """Internal by default: reachable only inside the VPC (and peered networks)."""
    allowed_cidrs: list[ipaddress.IPv4Network] = []
    """Who may connect. Empty means the VPC's own range."""
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/.+$")
    """ACM certificate for the HTTPS listener, in the stack's region; without one the
    listener is plain HTTP (refused for production stacks)."""
    idle_timeout_seconds: Count = Field(load_balancer.DEFAULT_IDLE_TIMEOUT_SECONDS, ge=300, le=4000)
    """Streamed generations hold a connection open; AWS's 60 s default cuts them (AWS allows
    1 to 4000 s)."""

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> LoadBalancerConfig:
        problems = _Problems()
        if not self.internal and not self.allowed_cidrs:
            problems.add(
                "allowedCidrs",
                "a public load balancer needs an explicit allow list "
                "(use [0.0.0.0/0] only if you really mean the whole internet)",
            )
        for i, cidr in enumerate(self.allowed_cidrs):
            if cidr in self.allowed_cidrs[:i]:
                problems.add(f"allowedCidrs[{i}]", f"{cidr} is listed twice (AWS refuses a duplicate rule)")
        # One security-group rule per CIDR and listener port (HTTPS and the HTTP redirect).
        ports = 2 if self.certificate_arn else 1
        if len(self.allowed_cidrs) * ports > MAX_SECURITY_GROUP_RULES:
            problems.add(
                "allowedCidrs",
                f"{len(self.allowed_cidrs)} ranges x {ports} ports = {len(self.allowed_cidrs) * ports} inbound rules; "
                f"a security group takes {MAX_SECURITY_GROUP_RULES} (AWS's default quota): merge ranges or use "
                "a managed prefix list",
            )
        region = (info.context or {}).get("region")
        problem = certificate_region_problem(self.certificate_arn, region)
        if problem:
            problems.add("certificateArn", f"{problem}; request or import one in {region}")
        problems.raise_any()
        return self


# ----------------------------------------------------------------------------- alerts


class AlertsConfig(Section):
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = []
    """Subscribed to the alarm topic (each address must confirm AWS's email)."""

    @field_validator("emails")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        lowered = [e.lower() for e in v]
        for i, email in enumerate(lowered):
            if email in lowered[:i]:
                raise ValueError(f"{v[i]} is listed twice")
        return v


class ResultsConfig(Section):
    expiration_days: Count = Field(results_bucket.DEFAULT_EXPIRATION_DAYS, ge=1, le=3650)
    """Results are deleted after this many days: they hold prompts and completions, which
    should not live forever."""


# ----------------------------------------------------------------------------- models


class CapacityConfig(Section):
    min: Count = Field(0, ge=0, le=100)
    """0 lets the model scale to zero when its queue is empty (no GPU cost when idle)."""
    max: Count = Field(2, ge=1, le=100)
    """Upper bound on instances across spot and on-demand: the cost ceiling."""
    on_demand_base: Count = Field(0, ge=0, le=100)
    """Instances that are always on-demand (never interrupted). 0 means spot only."""
    warm_pool: Count = Field(0, ge=0, le=100)
    """Stopped on-demand instances kept with image and weights on disk, ready in about
    a minute instead of many. They cost only their volumes while stopped."""
    on_demand_fallback_max: Count | None = Field(None, ge=0, le=100)
    """Extra on-demand instances while spot cannot deliver. Unset: up to max - onDemandBase
    (all the spot capacity); 0 turns the fallback off."""

    @property
    def fallback_max(self) -> int:
        if self.on_demand_fallback_max is not None:
            return self.on_demand_fallback_max
        return max(0, self.max - self.on_demand_base)


class QueueConfig(Section):
    visibility_timeout_seconds: Count = Field(request_queue.DEFAULT_VISIBILITY_TIMEOUT_SECONDS, ge=30, le=43200)
    """How long a worker owns a message before SQS hands it to another one; the worker
    extends it while a generation runs, so it only matters when a worker dies."""
    max_receive_count: Count = Field(request_queue.DEFAULT_MAX_RECEIVE_COUNT, ge=2, le=1000)
    """Deliveries before a message moves to the dead-letter queue (>= 2, as AWS advises;
    default and why: components.request_queue)."""
    retention_seconds: Count = Field(
        request_queue.DEFAULT_RETENTION_SECONDS, ge=60, lt=request_queue.DEAD_LETTER_RETENTION_SECONDS
    )
    """How long an unserved request waits (4 days, SQS's default). Below 14 days so the
    dead-letter queue, which keeps messages 14 days, always outlives it."""


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
"""Auto Scaling's ``Recurrence``: Unix cron, five fields (docs/reference.md#ec2-auto-scaling).
Numbers only: a stricter reading than cron's, which AWS is sure to accept."""


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a five-field cron AWS accepts, or None."""
    fields = expression.split()
    if len(fields) != len(_CRON_FIELDS):
        return f"{expression!r} has {len(fields)} fields; a cron has 5: minute hour day-of-month month day-of-week"
    for text, (name, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            problem = _cron_part_problem(part, low, high)
            if problem:
                return f"{expression!r}: the {name} field {text!r} {problem}"
    return None


def _cron_part_problem(part: str, low: int, high: int) -> str | None:
    span, _, step = part.partition("/")
    if step and not (step.isdigit() and 1 <= int(step) <= high):
        return f"has the step {step!r}; use a number from 1 to {high}"
    if span == "*":
        return None
    first, _, last = span.partition("-")
    for value in (first, last) if last else (first,):
        if not value.isdigit():
            return f"holds {value!r}; use numbers ({low}-{high}), '*', ranges a-b, lists a,b and steps /n"
        if not low <= int(value) <= high:
            return f"holds {value}, outside {low}-{high}"
    if last and int(first) > int(last):
        return f"has the range {span}, which runs backwards"
    return None


class ScheduleConfig(Section):
    off_cron: str
    """Cron (minute hour day month weekday) when both groups go to zero, e.g. `0 19 * * 1-5`."""
    on_cron: str
    """Cron when the configured capacity comes back, e.g. `0 7 * * 1-5`."""
    time_zone: str = schedule.DEFAULT_TIME_ZONE
    """IANA time zone of both crons, by its canonical name (e.g. Europe/Berlin, Etc/UTC): AWS
    documents canonical names only, so an alias such as US/Eastern or UTC is refused with
    its canonical name."""


def time_zone_problem(zone: str) -> str | None:
    zones, links = _time_zones()
    if zone in zones:
        return None
    if zone in links:
        return (
            f"{zone!r} is an alias; Auto Scaling takes canonical IANA names: use {links[zone]!r} "
            "(docs/reference.md#ec2-auto-scaling)"
        )
    close = difflib.get_close_matches(zone, sorted(zones), n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{zone!r} is not an IANA time zone such as Europe/Berlin or Etc/UTC{hint}"


@functools.cache
def _time_zones() -> tuple[frozenset[str], dict[str, str]]:
    """Canonical IANA zone names, and each alias (link) with its canonical zone, from the
    database the tzdata package ships (its compact source lists zones and links apart)."""
    text = importlib.resources.files("tzdata").joinpath("zoneinfo", "tzdata.zi").read_text()
    zones, links = set(), {}
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind == "Z":
            zones.add(fields[0])
        elif kind == "L":
            links[fields[1]] = fields[0]
    return frozenset(zones), links


class ArchitectureConfig(Section):
    """The model's shape, from its config.json: what the KV cache of one token takes."""

    layers: Count = Field(ge=1, le=1000)
    """config.json num_hidden_layers."""
    kv_heads: Count = Field(ge=1, le=1000)
    """config.json num_key_value_heads (num_attention_heads when it has none)."""
    head_dim: Count = Field(ge=1, le=4096)
    """config.json head_dim, else hidden_size / num_attention_heads."""


WeightSource = Literal["hub", "s3"]


class WeightsConfig(Section):
    """Where the model's instances load its weights from."""

    source: WeightSource | None = None
    """`s3`: the stack's weights bucket, staged once with `llm-serving weights stage` (fast
    cold starts, no token on the instances, no internet needed). `hub`: each instance
    downloads from the Hugging Face Hub at boot, with the token. Unset: `s3` in production
    stacks, `hub` in others (nothing to stage before the first try); always `s3` on
    SageMaker, whose endpoints run network-isolated (`hub` is refused there)."""


# -------------------------------------------------------------------------- SageMaker
# Ranges from SageMaker's API: botocore's sagemaker service model and CloudFormation's
# AWS::SageMaker::Endpoint and EndpointConfig schemas (docs/reference.md#sagemaker).

SAGEMAKER_TIMEOUT_RANGE = (60, 3600)
"""ContainerStartupHealthCheckTimeoutInSeconds and ModelDataDownloadTimeoutInSeconds, in s."""
SAGEMAKER_STEP_PERCENT_RANGES = {"canary": (1, 50), "linear": (10, 50), "rolling": (5, 50)}
"""Percent of the fleet per step: a canary at most 50%, a linear step 10 to 50%, a rolling
batch 5 to 50% (TrafficRoutingConfig, RollingUpdatePolicy)."""
SAGEMAKER_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
"""EndpointName's pattern: letters, digits and hyphens, starting and ending with a letter or
digit. It bounds the letters and digits only; the length is bounded apart."""
MAX_SAGEMAKER_ENDPOINT_NAME = 63
SAGEMAKER_TIMEOUT_MARGIN = 2
"""A SageMaker timeout is twice its estimate, as the EC2 boot's deadline is twice its load
estimate (components.ec2.gpu_fleet): an estimate is not a bound."""

DeploymentStrategy = Literal["allAtOnce", "canary", "linear", "rolling"]

InferenceAmi = Literal[
    "al2-ami-sagemaker-inference-gpu-2",
    "al2-ami-sagemaker-inference-gpu-2-1",
    "al2-ami-sagemaker-inference-gpu-3-1",
    "al2023-ami-sagemaker-inference-gpu-4-1",
]
"""ProductionVariantInferenceAmiVersion's GPU values (its fifth, ...-neuron-2, is for
Inferentia and Trainium, which the catalog lacks)."""
INFERENCE_AMI_CUDA: dict[str, tuple[int, int]] = {
    "al2-ami-sagemaker-inference-gpu-2": (12, 2),
    "al2-ami-sagemaker-inference-gpu-2-1": (12, 2),
    "al2-ami-sagemaker-inference-gpu-3-1": (12, 4),
    "al2023-ami-sagemaker-inference-gpu-4-1": (13, 0),
}
"""The CUDA version of each AMI (NVIDIA driver 535, 535, 550, 580), oldest first."""


def sagemaker_endpoint_name(stack: str, model: str, instance_type: str) -> str:
    """The name the SageMaker backend gives a model's endpoint: the stack's resource prefix
    (infra.program.name_prefix, ``llm-<stack>-<model>-``) and the instance type
    (``ml.g6e.xlarge`` -> ``g6e-xlarge``). A new type is a new endpoint, created before the old
    one is deleted: SageMaker refuses to change the instance type of a variant that scales
    (docs/reference.md#sagemaker)."""
    return f"llm-{stack}-{model}-{instance_type.removeprefix('ml.').replace('.', '-')}"


def sagemaker_endpoint_name_problem(stack: str, model: str, instance_type: str) -> str | None:
    name = sagemaker_endpoint_name(stack, model, instance_type)
    if len(name) <= MAX_SAGEMAKER_ENDPOINT_NAME and SAGEMAKER_ENDPOINT_NAME.fullmatch(name):
        return None
    return (
        f"the SageMaker endpoint's name {name!r} ({len(name)} characters) is one AWS refuses: at most 63 "
        "letters, digits and hyphens (EndpointName; docs/reference.md#sagemaker); rename the stack "
        "(`pulumi stack rename`) to letters, digits and hyphens, or shorten the model's name"
    )


def inference_ami_for(cuda: tuple[int, int] | None) -> str:
    """The oldest inference AMI whose CUDA runs an image built for ``cuda``; for an image of
    unknown CUDA (your own), the one of AWS's TGI 3.3 image (CUDA 12.4)."""
    wanted = cuda if cuda is not None else (12, 4)
    return next(ami for ami, version in INFERENCE_AMI_CUDA.items() if version >= wanted)


def sagemaker_download_timeout_seconds(weights_gb: float) -> int:
    """ModelDataDownloadTimeoutInSeconds: twice the time to copy the weights from S3 at about
    100 MB/s (the rate AWS measured for a SageMaker endpoint, and the EC2 estimate's
    DOWNLOAD_SECONDS_PER_GB), within AWS's 60 to 3600 s."""
    return _within_sagemaker_timeout(SAGEMAKER_TIMEOUT_MARGIN * weights_gb * gpu_fleet.DOWNLOAD_SECONDS_PER_GB)


def sagemaker_startup_timeout_seconds(weights_gb: float, image_size_gib: int) -> int:
    """ContainerStartupHealthCheckTimeoutInSeconds: the EC2 estimate from launch to a ready
    engine (components.ec2.gpu_fleet.estimate_load_seconds, weights from S3 and image from ECR).
    SageMaker pulls the image and copies the weights before the container starts, so the
    estimate covers the start-up with room to spare; within AWS's 60 to 3600 s."""
    return _within_sagemaker_timeout(
        gpu_fleet.estimate_load_seconds(weights_gb, image_size_gib, weights_from_s3=True, image_from_ecr=True)
    )


def _within_sagemaker_timeout(seconds: float) -> int:
    low, high = SAGEMAKER_TIMEOUT_RANGE
    return min(high, max(low, math.ceil(seconds)))


class SageMakerDeploymentConfig(Section):
    """How SageMaker replaces the endpoint's instances when the model or its settings change
    (deployment guardrails)."""

    strategy: DeploymentStrategy = "allAtOnce"
    """`allAtOnce` (default): blue/green; a whole new fleet starts, takes all the traffic once
    it passes its health checks, and the old one stops after the wait: no capacity is lost,
    and it works for a fleet of one instance, which canary, linear and rolling cannot split
    (each moves at most 50% of the fleet per step). `canary`: blue/green, a first share of
    the traffic, then the rest. `linear`: blue/green in equal steps. `rolling`: replaces the
    fleet in batches, never running two whole fleets (for fleets too large to double; the
    GPU quota must cover one batch more, not the whole fleet)."""
    step_percent: Count = Field(25, ge=1, le=50)
    """Canary size, linear step or rolling batch, in percent of the fleet's instances: canary
    1 to 50, linear 10 to 50, rolling 5 to 50 (AWS's ranges). 25 (a quarter, AWS's example
    canary) fits all three. Not for allAtOnce."""
    wait_seconds: Count = Field(300, ge=0, le=3600)
    """Baking time after each traffic step (for rolling: after each batch), while the
    rollback alarms watch the new instances: 300 s gives one-minute alarms five data points.
    AWS allows 0 to 3600."""
    bake_seconds: Count = Field(0, ge=0, le=3600)
    """Blue/green only: how long the old fleet is kept after the last step, for a fast manual
    rollback (TerminationWaitInSeconds, 0 to 3600; AWS's default 0). Both fleets are paid
    meanwhile."""
    max_seconds: Count = Field(7200, ge=600, le=28800)
    """The whole deployment's time limit, after which SageMaker rolls it back
    (MaximumExecutionTimeoutInSeconds, 600 to 28800). Two hours leave room for new instances
    to download and start the model at their longest (3600 s each); it must exceed the
    waits (steps x waitSeconds + bakeSeconds)."""

    @property
    def steps(self) -> int:
        """Traffic steps (for rolling: batches), each followed by ``wait_seconds``."""
        if self.strategy == "allAtOnce":
            return 1
        if self.strategy == "canary":
            return 2
        return math.ceil(100 / self.step_percent)

    @model_validator(mode="after")
    def _rules(self) -> SageMakerDeploymentConfig:
        problems = _Problems()
        if self.strategy == "allAtOnce":
            if "step_percent" in self.model_fields_set:
                problems.add("stepPercent", "allAtOnce shifts all the traffic in one step: remove it")
        else:
            low, high = SAGEMAKER_STEP_PERCENT_RANGES[self.strategy]
            if not low <= self.step_percent <= high:
                problems.add(
                    "stepPercent",
                    f"{self.step_percent} is outside {low} to {high}, what AWS allows for {self.strategy} "
                    "(docs/reference.md#sagemaker)",
                )
        if self.strategy == "rolling" and "bake_seconds" in self.model_fields_set:
            problems.add(
                "bakeSeconds",
                "rolling keeps no old fleet to bake (TerminationWaitInSeconds is blue/green's): remove it, "
                "or use waitSeconds, the baking time of each batch",
            )
        waits = self.steps * self.wait_seconds + (self.bake_seconds if self.strategy != "rolling" else 0)
        if self.max_seconds <= waits:
            problems.add(
                "maxSeconds",
                f"must exceed the deployment's waits ({self.steps} steps x waitSeconds {self.wait_seconds}"
                f"{f' + bakeSeconds {self.bake_seconds}' if self.strategy != 'rolling' else ''} = {waits} s), "
                "as AWS requires; raise it or shorten the waits",
            )
        problems.raise_any()
        return self


class SageMakerConfig(Section):
    """Settings of a model with ``backend: sagemaker`` (refused on other backends)."""

    deployment: SageMakerDeploymentConfig = SageMakerDeploymentConfig()
    """How a change of the model rolls out over the endpoint's instances."""
    target_concurrent_requests: Number | None = Field(None, gt=0)
    """In-flight plus queued requests per instance that scaling aims for, on SageMaker's
    high-resolution ConcurrentRequestsPerModel metric (every 10 s). Unset:
    maxConcurrentRequests (each instance full, nothing waiting), as targetBacklogPerInstance
    on EC2."""
    worker_tasks: Count = Field(1, ge=1, le=100)
    """ECS Fargate tasks running the model's queue worker, which passes requests from the
    queue to the endpoint. 1 by default (a task is cheap and ECS replaces a failed one);
    production stacks need 2 or more, so one task's failure or replacement stops nothing."""
    inference_ami_version: InferenceAmi | None = None
    """The image (NVIDIA driver and CUDA) of the endpoint's instances. Unset: the oldest whose
    CUDA runs the engine's AWS image: al2-ami-sagemaker-inference-gpu-3-1 (CUDA 12.4) for
    TGI 3.3.6, al2023-ami-sagemaker-inference-gpu-4-1 (CUDA 13.0) for vLLM 0.30.0; gpu-3-1
    for an image: of your own. SageMaker's own default is older (CUDA 11.4 on ml.g5)."""


# -------------------------------------------------------------------------------- EKS

EKS_CLUSTER_NAME = r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$"
"""EKS cluster names: 1 to 100 letters, digits, hyphens and underscores, starting with a
letter or digit (CreateCluster; docs/reference.md#eks)."""
CapacityType = Literal["spot", "on-demand"]


def instance_family(instance_type: str) -> str:
    """``g6e.xlarge`` -> ``g6e``: what Auto Mode's ``eks.amazonaws.com/instance-family`` label holds."""
    return instance_type.split(".", 1)[0]


GPU_FAMILIES = frozenset(instance_family(t) for t in catalog.CATALOG)
"""The NVIDIA GPU families of the catalog: what a GPU node pool may launch."""


class EksKedaConfig(Section):
    """KEDA, which scales each model's pods on its queue."""

    install: StrictBool | None = None
    """Install KEDA from its pinned Helm chart (components.eks.keda). Unset: true on a
    cluster the stack creates, false on an existing one (a cluster runs one KEDA, and a
    platform team that owns the cluster usually owns it too)."""
    operator_role_arn: str | None = Field(None, pattern=r"^arn:aws:iam::\d{12}:role/.+$")
    """The IAM role of an existing KEDA operator (its Pod Identity or IRSA role): each
    model's role trusts it, so the operator can read the queue's length as that role.
    Required when KEDA is not installed by the stack; not allowed when it is (the stack
    creates the operator's role)."""


class EksConfig(Section):
    """The stack's EKS cluster, shared by its `backend: eks` models (required with them,
    refused without)."""

    cluster_name: str | None = Field(None, pattern=EKS_CLUSTER_NAME)
    """Run on this existing cluster (the common case): its endpoint, certificate, VPC and
    security group are looked up. Its VPC must be network.existing's."""
    create: StrictBool = False
    """Create an EKS Auto Mode cluster in the stack's network instead (cluster and node
    roles, Auto Mode's compute, load balancing and block storage, KEDA)."""
    auto_mode: StrictBool | None = None
    """Whether the cluster runs EKS Auto Mode, which decides the TargetGroupBinding's API
    (`eks.amazonaws.com/v1` on Auto Mode, `elbv2.k8s.aws/v1beta1` with the AWS Load Balancer
    Controller) and whether the stack declares a GPU node pool (Auto Mode's own pools have no
    GPUs). Required for an existing cluster; always true for a created one."""
    kubernetes_version: str = Field(DEFAULT_KUBERNETES_VERSION, pattern=r"^1\.\d{2}$")
    """Kubernetes of a created cluster (default and why: components.eks). Only with create."""
    keda: EksKedaConfig = EksKedaConfig()
    """KEDA: installed by the stack or already on the cluster."""

    @property
    def is_auto_mode(self) -> bool:
        return self.create or self.auto_mode is True

    @property
    def installs_keda(self) -> bool:
        return self.keda.install if self.keda.install is not None else self.create

    @model_validator(mode="after")
    def _rules(self) -> EksConfig:
        problems = _Problems()
        if self.create and self.cluster_name is not None:
            problems.add(
                "create", "cannot be true together with clusterName: remove clusterName, or remove create to use it"
            )
        elif not self.create and self.cluster_name is None:
            problems.add("clusterName", "required: name the existing cluster, or set create: true to create one")
        if self.create:
            if self.auto_mode is False:
                problems.add("autoMode", "a cluster the stack creates always runs Auto Mode: remove it")
        elif self.cluster_name is not None and self.auto_mode is None:
            problems.add(
                "autoMode",
                "required for an existing cluster: true if it runs EKS Auto Mode, false if it runs the AWS "
                "Load Balancer Controller (the TargetGroupBinding's API differs)",
            )
        if not self.create and "kubernetes_version" in self.model_fields_set:
            problems.add("kubernetesVersion", "only for a cluster the stack creates (create: true): remove it")
        elif self.create and self.installs_keda and self.kubernetes_version not in KEDA_KUBERNETES_VERSIONS:
            problems.add(
                "kubernetesVersion",
                f"{self.kubernetes_version} is outside the versions KEDA {KEDA_CHART_VERSION}, which the stack "
                f"installs, is tested on ({', '.join(KEDA_KUBERNETES_VERSIONS)}; docs/reference.md#eks): use one "
                "of them, or install KEDA yourself (keda.install: false)",
            )
        if self.installs_keda and self.keda.operator_role_arn is not None:
            problems.add(
                "keda.operatorRoleArn",
                "the stack installs KEDA and creates its operator's role: remove it, or set keda.install: false",
            )
        if not self.installs_keda and self.keda.operator_role_arn is None and self.cluster_name is not None:
            problems.add(
                "keda.operatorRoleArn",
                "required when the stack does not install KEDA: the ARN of the KEDA operator's IAM role, which "
                "each model's role trusts to read its queue's length",
            )
        problems.raise_any()
        return self


class EksModelConfig(Section):
    """Settings of a model with ``backend: eks`` (refused on other backends)."""

    instance_families: list[str] | None = None
    """GPU families the node pool may launch for this model (Auto Mode), e.g. [g6e, g6].
    Unset: the families of instanceTypes. Spot draws on every size of each family."""
    capacity_types: list[CapacityType] = Field(["spot", "on-demand"], min_length=1)
    """Which capacity the model's nodes may be: spot first (the node pool prefers it),
    on-demand when spot is short."""


class ModelConfig(Section):
    model_id: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
    """Hugging Face repository id, e.g. meta-llama/Llama-3.1-8B-Instruct."""
    revision: str = Field(pattern=layout.COMMIT_PATTERN.pattern)
    """Commit of the model repository. Pinned, so a new revision is a reviewed change that
    rolls out deliberately (a branch name would change under a running fleet)."""
    parameters_billions: Number | None = Field(None, gt=0, le=2000)
    """Size of the model, for the GPU-memory check (nothing can be fetched from the Hub at
    plan time). Unset: taken from the built-in table of well-known models
    (infra/model_catalog.py); required for any other model."""
    context_length: Count | None = Field(None, ge=2)
    """The longest sequence the model takes (config.json max_position_embeddings): engines
    refuse to start when maxTotalTokens exceeds it. Unset: from the built-in table; required
    for any other model."""
    architecture: ArchitectureConfig | None = None
    """Layers, KV heads and head size (config.json), for the KV-cache check. Unset: from the
    built-in table; required for any other model."""
    engine: EngineName = "tgi"
    """`tgi` (default) or `vllm`."""
    backend: Literal["ec2", "sagemaker", "eks"] = "ec2"
    """Where the model runs: `ec2` (default), an Auto Scaling fleet of spot and on-demand
    instances; `sagemaker`, a SageMaker real-time endpoint (on-demand only, at least one
    instance, weights from S3); `eks`, a Deployment on the stack's EKS cluster (`eks`
    section), scaled by KEDA on its queue, weights from S3."""
    quantization: Quantization = Quantization.NONE
    """How weights are stored on the GPU; decides bytes per parameter."""
    instance_types: list[str] = Field(min_length=1, max_length=20)
    """GPU instance types, most preferred first. Spot draws on all of them, so list
    several with the same GPU count; the first is the on-demand type. On SageMaker: exactly
    one, by its ml. name (ml.g6e.xlarge)."""
    capacity: CapacityConfig = CapacityConfig()
    """How many instances: scale-to-zero by default, spot unless onDemandBase says otherwise."""
    max_input_tokens: Count = Field(4096, ge=1)
    """Longest prompt the engine accepts; longer requests fail at once, never retried."""
    max_total_tokens: Count = Field(8192, ge=2)
    """Prompt plus completion: bounds the KV cache per request. At most the model's context
    length, and one request of it must fit in GPU memory beside the weights."""
    max_concurrent_requests: Count = Field(DEFAULT_MAX_CONCURRENT_REQUESTS, ge=1, le=4096)
    """Requests the engine batches at once; more get HTTP 429 and are retried."""
    queue: QueueConfig = QueueConfig()
    """The model's request queue and its dead-letter queue."""
    image: str | None = None
    """Override the engine's pinned image (e.g. a copy in your ECR)."""
    max_generation_seconds: Count = Field(300, ge=10, le=3600)
    """Longest a single generation may run: the load balancer waits this long for a
    leaving instance's requests (deregistration delay, 0 to 3600 s in AWS)."""
    health_check_grace_seconds: Count | None = Field(None, ge=60, le=7200)
    """How long a new instance has to load the model before health checks count. Unset:
    estimated from the weights and the engine image (components.ec2.gpu_fleet). On SageMaker it
    is the container start-up health-check timeout, which AWS allows up to 3600 s."""
    target_backlog_per_instance: Number | None = Field(None, gt=0)
    """Queue backlog plus in-flight requests per instance that scaling aims for. Unset:
    maxConcurrentRequests (each instance full, nothing waiting)."""
    schedule: ScheduleConfig | None = None
    """Switch the model off and on at fixed times (e.g. dev outside working hours). On
    SageMaker, off means one instance, not zero: a real-time endpoint cannot scale to zero."""
    weights: WeightsConfig = WeightsConfig()
    """Where the weights come from: the stack's weights bucket or the Hugging Face Hub."""
    sagemaker: SageMakerConfig | None = None
    """Settings of the SageMaker backend (only for backend: sagemaker). Unset: the defaults
    of each of its keys."""
    eks: EksModelConfig | None = None
    """Settings of the EKS backend (only for backend: eks). Unset: the defaults of each of
    its keys."""

    @field_validator("instance_types", mode="before")
    @classmethod
    def _lower_case(cls, v: Any) -> Any:
        # AWS's instance type names are lower case; G6.XLARGE means g6.xlarge.
        return [t.strip().lower() if isinstance(t, str) else t for t in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> ModelConfig:
        problems = _Problems()
        if self.backend != "sagemaker" and self.sagemaker is not None:
            problems.add("sagemaker", "only for backend: sagemaker; remove it, or set backend: sagemaker")
        if self.backend != "eks" and self.eks is not None:
            problems.add("eks", "only for backend: eks; remove it, or set backend: eks")
        if self.max_input_tokens >= self.max_total_tokens:
            problems.add(
                "maxInputTokens",
                f"must be less than maxTotalTokens ({self.max_total_tokens}) to leave room for the completion",
            )
        engine = ENGINES[self.engine]
        if self.quantization not in engine.quantize_values:
            supported = ", ".join(q.value for q in engine.quantize_values)
            problems.add(
                "quantization", f"'{self.quantization.value}' is not supported by {self.engine}; use one of {supported}"
            )
        shape = self._shape(problems)
        if shape is not None and self.max_total_tokens > shape.context_length:
            source = "contextLength" if self.context_length is not None else f"{self.model_id}'s context length"
            problems.add(
                "maxTotalTokens",
                f"{self.max_total_tokens} is beyond {source} ({shape.context_length}): the engine refuses to "
                f"start; lower it to {shape.context_length} or less",
            )
        self._check_instance_types(problems, shape)
        if self.capacity.max < self.capacity.min:
            problems.add("capacity.max", f"must be at least min ({self.capacity.min})")
        if self.backend == "sagemaker":
            self._sagemaker_rules(problems, (info.context or {}).get("region"))
        elif self.backend == "eks":
            self._eks_rules(problems)
        else:
            self._capacity_rules(problems)
        self._schedule_rules(problems)
        problems.raise_any()
        return self

    def _sagemaker_rules(self, problems: _Problems, region: str | None) -> None:
        """What a SageMaker real-time endpoint cannot do (docs/reference.md#sagemaker)."""
        c = self.capacity
        if c.min < 1:
            default = " (the default)" if "min" not in c.model_fields_set else ""
            problems.add(
                "capacity.min",
                f"is 0{default}, but a SageMaker real-time endpoint cannot scale to zero (only with inference "
                "components, which this stack does not use): set capacity.min to 1 or more",
            )
        self._fleet_keys_refused(
            problems,
            on_demand_base="SageMaker real-time endpoints have no spot: every instance is on-demand",
            on_demand_fallback_max="SageMaker real-time endpoints have no spot to fall back from",
            warm_pool="SageMaker real-time endpoints have no warm pools",
        )
        self._staged_weights_only(
            problems, "SageMaker endpoints run network-isolated, so the weights come from the stack's bucket"
        )
        low, high = SAGEMAKER_TIMEOUT_RANGE
        grace = self.health_check_grace_seconds
        if grace is not None and grace > high:
            problems.add(
                "healthCheckGraceSeconds",
                f"{grace} is SageMaker's container start-up health-check timeout here, which AWS allows {low} to "
                f"{high} s (ContainerStartupHealthCheckTimeoutInSeconds; docs/reference.md#sagemaker): lower it "
                f"to {high} or less",
            )
        deployment = self.sagemaker_settings.deployment
        if deployment.strategy != "allAtOnce" and c.min < 2:
            problems.add(
                "sagemaker.deployment.strategy",
                f"{deployment.strategy} moves at most half the fleet per step, which a fleet of one instance "
                "(capacity.min 1) cannot split: use allAtOnce, or set capacity.min to 2 or more",
            )
        self._sagemaker_image_rules(problems, region)

    def _sagemaker_image_rules(self, problems: _Problems, region: str | None) -> None:
        """The stack's SageMaker models pull their image from Amazon ECR in the stack's region
        (SageMaker's Platform access, which needs the image in the endpoint's region): AWS's
        image of the engine there, or ``image:`` in ECR (docs/reference.md#sagemaker)."""
        if self.image is not None:
            image_region = _ecr.region_of(self.image)
            if image_region is None:
                problems.add(
                    "image",
                    f"{self.image} is not in Amazon ECR, and the stack's SageMaker models pull their image from ECR: "
                    "push it to your ECR in the stack's region and name that copy",
                )
            elif region is not None and image_region != region:
                problems.add(
                    "image",
                    f"{self.image} is in {image_region}'s ECR; SageMaker needs the image in the endpoint's region "
                    f"({region}): push a copy there and name it",
                )
            return
        if region is None:
            return  # unknown until the stack's region is: checked when `pulumi preview` runs
        engine = ENGINES[self.engine]
        framework, version = engine.aws_image
        try:
            images.uri(images.AwsImage(framework, version), region)
            return
        except images.ImageNotAvailableError:
            pass
        own = "or set image: to a SageMaker-compatible container of your own in the region's ECR"
        if self.engine == "vllm":
            tgi = images.AwsImage(*ENGINES["tgi"].aws_image)
            try:
                images.uri(tgi, region)
                alternatives = f"use engine: tgi (AWS publishes {tgi.framework} {tgi.version} there), {own}"
            except images.ImageNotAvailableError:
                alternatives = own
        else:
            alternatives = f"{own} (the public {engine.image} is outside ECR)"
        problems.add(
            "engine",
            f"AWS publishes no {framework} {version} image in {region}'s ECR, where the stack's SageMaker models "
            f"pull their image from: {alternatives}",
        )

    def _eks_rules(self, problems: _Problems) -> None:
        """What a Deployment scaled by KEDA on GPU nodes cannot do (docs/reference.md#eks)."""
        self._fleet_keys_refused(
            problems,
            on_demand_base="EKS pods run on the node pool's capacity types (eks.capacityTypes), not on a base",
            on_demand_fallback_max="the EKS node pool falls back to on-demand itself (eks.capacityTypes)",
            warm_pool="EKS has no warm pools",
        )
        self._staged_weights_only(
            problems, "EKS pods copy staged weights from the stack's bucket (no Hugging Face token in the cluster)"
        )
        if self.schedule is not None:
            problems.add(
                "schedule", "not available on EKS yet (KEDA scales on the queue, to zero when min is 0): remove it"
            )
        families = self.eks_families
        if not families:
            problems.add("eks.instanceFamilies", "needs at least one GPU family for the node pool, e.g. [g6e, g6]")
        for i, family in enumerate(self.eks.instance_families if self.eks and self.eks.instance_families else []):
            if family not in GPU_FAMILIES:
                problems.add(
                    f"eks.instanceFamilies[{i}]",
                    f"{family!r} is not a GPU family of the catalog; use one of {', '.join(sorted(GPU_FAMILIES))}",
                )
            elif family in families[:i]:
                problems.add(f"eks.instanceFamilies[{i}]", f"{family} is listed twice")
        capacity_types = self.eks_settings.capacity_types
        for i, kind in enumerate(capacity_types):
            if kind in capacity_types[:i]:
                problems.add(f"eks.capacityTypes[{i}]", f"{kind} is listed twice")

    def _fleet_keys_refused(self, problems: _Problems, **why: str) -> None:
        """The EC2 fleet's capacity keys a backend has no use for, each refused with ``why``
        (by field name) when set."""
        for field in sorted(self.capacity.model_fields_set & why.keys()):
            problems.add(f"capacity.{to_camel(field)}", f"{why[field]}: remove it")

    def _staged_weights_only(self, problems: _Problems, why: str) -> None:
        if self.weights.source == "hub":
            problems.add(
                "weights.source",
                f"{why}: set 's3' (or remove the key) and stage them with `llm-serving weights stage`",
            )

    def _capacity_rules(self, problems: _Problems) -> None:
        c = self.capacity
        if c.on_demand_base > c.max:
            problems.add("capacity.onDemandBase", f"must be at most max ({c.max})")
        elif c.fallback_max > c.max - c.on_demand_base:
            problems.add(
                "capacity.onDemandFallbackMax", f"must be at most max - onDemandBase ({c.max - c.on_demand_base})"
            )
        elif c.warm_pool > c.on_demand_base + c.fallback_max:
            problems.add(
                "capacity.warmPool",
                f"must be at most what the on-demand group can grow to (onDemandBase {c.on_demand_base} + "
                f"onDemandFallbackMax {c.fallback_max} = {c.on_demand_base + c.fallback_max}): "
                "warm instances only ever join that group",
            )

    def _schedule_rules(self, problems: _Problems) -> None:
        schedule = self.schedule
        if schedule is None:
            return
        for key, cron in (("offCron", schedule.off_cron), ("onCron", schedule.on_cron)):
            problem = cron_problem(cron)
            if problem:
                problems.add(f"schedule.{key}", problem)
        if schedule.off_cron.split() == schedule.on_cron.split():
            problems.add("schedule.onCron", "is the same time as offCron: the model would never run")
        problem = time_zone_problem(schedule.time_zone)
        if problem:
            problems.add("schedule.timeZone", problem)

    def _shape(self, problems: _Problems) -> model_catalog.ModelShape | None:
        """The model's shape: the config's own values over the built-in table's."""
        known = model_catalog.lookup(self.model_id)
        missing = []
        if self.parameters_billions is None and known is None:
            missing.append(("parametersBillions", "its size in billions of parameters (model card)"))
        if self.context_length is None and known is None:
            missing.append(("contextLength", "config.json max_position_embeddings"))
        if self.architecture is None and known is None:
            missing.append(
                (
                    "architecture",
                    "{layers, kvHeads, headDim}: config.json num_hidden_layers, num_key_value_heads, head_dim",
                )
            )
        for key, what in missing:
            problems.add(
                key,
                f"required: {self.model_id} is not in the built-in table of models (infra/model_catalog.py); "
                f"set {what}",
            )
        if missing:
            return None
        own: dict[str, Any] = {
            "parameters_billions": self.parameters_billions,
            "context_length": self.context_length,
        }
        if self.architecture is not None:
            a = self.architecture
            own |= {"layers": a.layers, "kv_heads": a.kv_heads, "head_dim": a.head_dim, "source": "stack config"}
        given = {k: v for k, v in own.items() if v is not None}
        # Not in the table: every value is the config's (``missing`` is empty).
        return model_catalog.ModelShape(**given) if known is None else dataclasses.replace(known, **given)

    def _check_instance_types(self, problems: _Problems, shape: model_catalog.ModelShape | None) -> None:
        sagemaker = self.backend == "sagemaker"
        types: list[catalog.InstanceType | catalog.SageMakerInstanceType] = []
        for i, name in enumerate(self.instance_types):
            if name in self.instance_types[:i]:
                problems.add(f"instanceTypes[{i}]", f"{name} is listed twice")
                continue
            try:
                types.append(catalog.lookup_sagemaker(name) if sagemaker else catalog.lookup(name))
            except catalog.UnknownInstanceTypeError as e:
                problems.add(f"instanceTypes[{i}]", str(e))
        for t in types:
            at = f"instanceTypes[{self.instance_types.index(t.name)}]"
            if self.quantization.needs_fp8_hardware and not t.gpu.fp8:
                problems.add(
                    at,
                    f"{t.name} has {t.gpu.model} GPUs, which lack FP8; "
                    "use an L4, L40S or H100 type (g6, g6e, p5) or another quantization",
                )
            elif shape is not None:
                fit = self.memory_fit(t, shape)
                if not fit.fits:
                    problems.add(at, self._does_not_fit(t, fit, shape))
        if sagemaker and len(self.instance_types) > 1:
            problems.add(
                "instanceTypes",
                f"{len(self.instance_types)} types, but a SageMaker model runs one production variant of one "
                "instance type (pulumi-aws has no instance pools): list one",
            )
        elif (
            self.backend == "ec2" and self.capacity.max > self.capacity.on_demand_base and len(self.instance_types) < 2
        ):
            problems.add(
                "instanceTypes",
                "spot capacity needs at least two instance types (each is its own spot pool; "
                "one pool runs dry often); add one, or set capacity.onDemandBase to max",
            )
        counts = {t.gpu_count for t in types}
        if len(counts) > 1:
            listing = ", ".join(f"{t.name}: {t.gpu_count}" for t in types)
            problems.add(
                "instanceTypes",
                "must all have the same number of GPUs, because the engine shards the model over all of them "
                f"({listing})",
            )

    def memory_fit(
        self, t: catalog.InstanceType | catalog.SageMakerInstanceType, shape: model_catalog.ModelShape
    ) -> catalog.MemoryFit:
        return catalog.memory_fit(
            t,
            weights_gb=catalog.weights_gb(shape.parameters_billions, self.quantization.bytes_per_parameter),
            kv_bytes_per_token=model_catalog.kv_cache_bytes_per_token(shape, t.gpu_count),
            tokens=self.max_total_tokens,
        )

    def _does_not_fit(
        self,
        t: catalog.InstanceType | catalog.SageMakerInstanceType,
        fit: catalog.MemoryFit,
        shape: model_catalog.ModelShape,
    ) -> str:
        def fits(other: catalog.InstanceType | catalog.SageMakerInstanceType) -> bool:
            return (other.gpu.fp8 or not self.quantization.needs_fp8_hardware) and self.memory_fit(other, shape).fits

        suggestion = catalog.suggest(t, fits)
        hint = f"; {suggestion}" if suggestion else ""
        q = self.quantization
        weights = f"{shape.parameters_billions:g}B parameters x {q.bytes_per_parameter:g} bytes ({q.value})"
        per_gpu = f" / {t.gpu_count} GPUs" if t.gpu_count > 1 else ""
        room = fit.usable_gb - fit.weights_gb
        tokens = max(0, math.floor(room * 1e9 / fit.kv_bytes_per_token)) if fit.kv_bytes_per_token else 0
        lower = (
            f", or lower maxTotalTokens to {tokens} (what fits beside the weights)"
            if fit.weights_gb < fit.usable_gb and tokens >= 2
            else ", or quantize"
        )
        return (
            f"{t.name} cannot hold the weights and one request of maxTotalTokens: per GPU, {weights}{per_gpu} = "
            f"{fit.weights_gb:.3g} GB, plus a KV cache of {self.max_total_tokens} tokens x "
            f"{fit.kv_bytes_per_token / 1e6:.3g} MB = {fit.kv_gb:.3g} GB, is more than the "
            f"{fit.usable_gb:.3g} GB usable ({catalog.GPU_MEMORY_USABLE_FRACTION:.0%} of {t.gpu.memory_gb} GB "
            f"{t.gpu.model}){hint}{lower}"
        )

    @property
    def shape(self) -> model_catalog.ModelShape:
        """The model's shape (validated: always known once the config is valid)."""
        shape = self._shape(_Problems())
        assert shape is not None
        return shape

    def engine_image(self, region: str | None) -> str:
        """The image the engine runs: ``image`` when set, else AWS's Deep Learning Container of
        the engine in ``region`` (ECR), else the engine's public image (a region AWS's table
        lacks, or no region known)."""
        if self.image is not None:
            return self.image
        engine = ENGINES[self.engine]
        if region is None:
            return engine.image
        try:
            return images.uri(images.AwsImage(*engine.aws_image), region)
        except images.ImageNotAvailableError:
            return engine.image

    @property
    def backlog_target(self) -> float:
        """Queued plus in-flight requests per instance (or pod) that scaling aims for:
        targetBacklogPerInstance, else maxConcurrentRequests (each instance full, nothing waiting)."""
        if self.target_backlog_per_instance is not None:
            return self.target_backlog_per_instance
        return self.max_concurrent_requests

    @property
    def latency_objective_seconds(self) -> float:
        """What the latency alarms hold a model's p95 response to: half its longest allowed
        generation, so a model that answers in anything like its limit is slower than planned."""
        return float(self.max_generation_seconds) / 2

    @property
    def instance_catalog(self) -> list[catalog.InstanceType]:
        """The machines of ``instance_types`` (on SageMaker, the EC2 entry of its one type)."""
        if self.backend == "sagemaker":
            return [self.sagemaker_instance.hardware]
        return [catalog.CATALOG[name] for name in self.instance_types]

    @property
    def gpu_count(self) -> int:
        """GPUs per instance, over which the engine shards the model (SageMaker's SM_NUM_GPUS)."""
        return self.instance_catalog[0].gpu_count

    @property
    def weights_gb(self) -> float:
        return catalog.weights_gb(self.shape.parameters_billions, self.quantization.bytes_per_parameter)

    @property
    def sagemaker_settings(self) -> SageMakerConfig:
        """The ``sagemaker`` block, or its defaults when unset."""
        return self.sagemaker if self.sagemaker is not None else SageMakerConfig()

    @property
    def eks_settings(self) -> EksModelConfig:
        """The ``eks`` block, or its defaults when unset."""
        return self.eks if self.eks is not None else EksModelConfig()

    @property
    def eks_families(self) -> list[str]:
        """The GPU families the node pool launches for this model (``eks.instanceFamilies``,
        else those of instanceTypes, in order)."""
        configured = self.eks_settings.instance_families
        if configured is not None:
            return list(configured)
        return list(dict.fromkeys(instance_family(t) for t in self.instance_types))

    @property
    def sagemaker_instance(self) -> catalog.SageMakerInstanceType:
        """The SageMaker hosting type of a ``backend: sagemaker`` model."""
        return catalog.SAGEMAKER_CATALOG[self.instance_types[0]]

    @property
    def sagemaker_target_concurrent_requests(self) -> float:
        """Target of the ConcurrentRequestsPerModel scaling policy, per instance."""
        target = self.sagemaker_settings.target_concurrent_requests
        return target if target is not None else self.max_concurrent_requests

    @property
    def sagemaker_download_timeout_seconds(self) -> int:
        """ModelDataDownloadTimeoutInSeconds (``sagemaker_download_timeout_seconds``)."""
        return sagemaker_download_timeout_seconds(self.weights_gb)

    @property
    def sagemaker_startup_timeout_seconds(self) -> int:
        """ContainerStartupHealthCheckTimeoutInSeconds: healthCheckGraceSeconds when set, else
        estimated (``sagemaker_startup_timeout_seconds``)."""
        if self.health_check_grace_seconds is not None:
            return self.health_check_grace_seconds
        return sagemaker_startup_timeout_seconds(self.weights_gb, ENGINES[self.engine].image_size_gib)

    def sagemaker_inference_ami(self) -> str:
        """InferenceAmiVersion: the configured one, else the oldest that runs the engine's AWS
        image (by the CUDA version in its tag), or AWS's TGI image's for ``image:``."""
        configured = self.sagemaker_settings.inference_ami_version
        if configured is not None:
            return configured
        cuda = images.cuda(images.AwsImage(*ENGINES[self.engine].aws_image)) if self.image is None else None
        return inference_ami_for(cuda)

    def engine_settings(self, name: str, local_path: str | None = None) -> EngineSettings:
        return EngineSettings(
            model_id=self.model_id,
            revision=self.revision,
            served_model_name=name,
            local_path=local_path,
            max_input_tokens=self.max_input_tokens,
            max_total_tokens=self.max_total_tokens,
            quantization=self.quantization,
            num_shards=self.gpu_count,
            max_concurrent_requests=self.max_concurrent_requests,
        )


class Ec2Config(Section):
    """Settings of the EC2 backend shared by its models."""

    ami_id: str | None = Field(None, pattern=rf"^ami-{_AWS_ID}$")
    """The GPU AMI of every instance, pinned: AWS's Deep Learning Base OSS Nvidia Driver GPU
    AMI (Amazon Linux 2023) for the stack's region. A new AMI is a deliberate change that
    rolls the fleet: `llm-serving ami latest STACK` shows the newest one and how to pin it."""


class StackConfig(Section):
    production: StrictBool = False
    """Marks a production stack: stricter rules apply (several AZs with a NAT per AZ,
    HTTPS, someone to alert, deletion protection)."""
    network: NetworkConfig = NetworkConfig()
    """The VPC: a new one by default."""
    load_balancer: LoadBalancerConfig = LoadBalancerConfig()
    """The Application Load Balancer shared by the models."""
    alerts: AlertsConfig = AlertsConfig()
    """Who hears about alarms."""
    results: ResultsConfig = ResultsConfig()
    """The results bucket of the asynchronous path."""
    ec2: Ec2Config = Ec2Config()
    """The EC2 backend: the pinned GPU AMI (required when a model runs on EC2)."""
    eks: EksConfig | None = None
    """The EKS cluster of the `backend: eks` models (required when a model runs on EKS)."""
    worker_image: str = Field(pattern=r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$")
    """Image of the queue worker, built from model_server/Dockerfile and pushed to a
    registry the instances can pull from (ECR: the instance role gets pull rights)."""
    models: dict[str, ModelConfig] = Field(min_length=1)
    """The models to serve, keyed by name: reordering them replaces nothing. At most 62: the
    stack's dashboard holds 8 graphs per model and CloudWatch 500 per dashboard."""

    @field_validator("models", mode="before")
    @classmethod
    def _model_names(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        problems = _Problems()
        for name in v:
            if not isinstance(name, str) or not re.fullmatch(MODEL_NAME_PATTERN, name):
                problems.add(
                    str(name),
                    "model names must be 2 to 16 characters of lowercase letters, digits and "
                    "hyphens, starting with a letter (they become parts of AWS resource names)",
                )
        if len(v) > MAX_MODELS:
            problems.add(
                "",
                f"{len(v)} models; a stack holds at most {MAX_MODELS}: its load balancer takes "
                f"{MAX_LISTENER_RULES} routing rules and its dashboard {dashboard.MAX_WIDGETS} graphs "
                f"({dashboard.WIDGETS_PER_MODEL} per model) by AWS's default quotas; split the models over two stacks",
            )
        problems.raise_any()
        return v

    def _eks_stack_rules(self, problems: _Problems) -> None:
        """The eks section goes with eks models, both ways; an existing cluster's VPC is the stack's."""
        eks_models = [n for n, m in self.models.items() if m.backend == "eks"]
        if self.eks is None:
            if eks_models:
                problems.add(
                    "eks",
                    f"required: {', '.join(eks_models)} run on EKS; set eks.clusterName (an existing cluster) or "
                    "eks.create: true",
                )
            return
        if not eks_models:
            problems.add("eks", "no model has backend: eks; remove the section, or set a model's backend to eks")
            return
        if self.eks.cluster_name is not None and self.network.existing is None:
            problems.add(
                "network.existing",
                f"required with eks.clusterName: the models' pods register by IP in a target group of the stack's "
                f"load balancer, which must be in the cluster's VPC; set network.existing to {self.eks.cluster_name}'s "
                "VPC and subnets",
            )

    def _no_nat_rules(self, problems: _Problems, region: str | None) -> None:
        """Without a NAT gateway the instances reach nothing outside AWS: everything they
        fetch must come from S3 and ECR, through endpoints."""
        why = "network.natGateways is 'none': the instances have no internet"
        for name, model in self.models.items():
            if self.weights_source(name) != "s3":
                problems.add(
                    f"models.{name}.weights.source",
                    f"{why}, so the weights must come from the stack's bucket: set 's3' "
                    "(and stage them with `llm-serving weights stage`)",
                )
            image = model.engine_image(region)
            if not _ecr.is_ecr_image(image):
                problems.add(
                    f"models.{name}.image",
                    f"{why}, and {image} is not in ECR (AWS publishes no image of this engine for the region, or "
                    "image: points elsewhere): copy it into your ECR and set image:",
                )
        if not _ecr.is_ecr_image(self.worker_image):
            problems.add("workerImage", f"{why}: push the worker image to ECR")
        required = dict(network.REQUIRED_WITHOUT_NAT)
        if any(m.backend == "sagemaker" for m in self.models.values()):
            required |= worker_service.REQUIRED_WITHOUT_NAT
        for service, reason in required.items():
            if service not in self.network.interface_endpoints:
                problems.add("network.interfaceEndpoints", f"{why}: add {service!r} ({reason})")

    def weights_source(self, model: str) -> WeightSource:
        """Where ``model``'s instances load its weights from (the default depends on the
        stack and the backend: SageMaker endpoints are network-isolated, and EKS pods keep no
        token, so always S3)."""
        m = self.models[model]
        if m.weights.source is not None:
            return m.weights.source
        return "s3" if self.production or m.backend in ("sagemaker", "eks") else "hub"

    @model_validator(mode="after")
    def _stack_rules(self, info: ValidationInfo) -> StackConfig:
        problems = _Problems()
        if self.network.existing is None and self.network.nat_gateways == "none":
            self._no_nat_rules(problems, (info.context or {}).get("region"))
        for at, message in production_problems(self.production, self.network, self.load_balancer, self.alerts):
            problems.add(at, message)
        stack = (info.context or {}).get("stack")
        for name, model in self.models.items():
            if model.backend != "sagemaker":
                continue
            problem = (
                sagemaker_endpoint_name_problem(stack, name, model.instance_types[0]) if stack is not None else None
            )
            if problem:
                problems.add(f"models.{name}", problem)
            if self.production and model.sagemaker_settings.worker_tasks < 2:
                problems.add(
                    f"models.{name}.sagemaker.workerTasks",
                    "production stacks need at least 2 queue-worker tasks: with one, its failure or replacement "
                    "stops the model's queue",
                )
        ec2_models = [n for n, m in self.models.items() if m.backend == "ec2"]
        if ec2_models and self.ec2.ami_id is None:
            problems.add(
                "ec2.amiId",
                f"required: pin the GPU AMI of {', '.join(ec2_models)} (`llm-serving ami latest STACK` shows "
                "the newest Deep Learning AMI of the stack's region and the command to pin it)",
            )
        self._eks_stack_rules(problems)
        existing = self.network.existing
        if existing is not None and not self.load_balancer.internal and len(existing.public_subnet_ids) < 2:
            problems.add(
                "network.existing.publicSubnetIds",
                "a public load balancer needs public subnets in at least two AZs; list them, "
                "or keep loadBalancer.internal true",
            )
        problems.raise_any()
        return self


def production_problems(
    production: bool,
    network: NetworkConfig | None,
    load_balancer: LoadBalancerConfig | None,
    alerts: AlertsConfig | None,
) -> list[tuple[str, str]]:
    """The rules of production stacks, on whichever sections are valid: run even when other
    parts of the config fail, so one run reports every problem."""
    if not production:
        return []
    problems = []
    if network is not None and network.existing is None and network.nat_gateways == "single":
        problems.append(
            (
                "network.natGateways",
                "production stacks need 'perAz': one NAT gateway is a single-AZ point of failure",
            )
        )
    if load_balancer is not None and load_balancer.certificate_arn is None:
        problems.append(
            ("loadBalancer.certificateArn", "production stacks serve HTTPS only: set an ACM certificate ARN")
        )
    if alerts is not None and not alerts.emails:
        problems.append(("alerts.emails", "production stacks need at least one address to alert"))
    return problems


# ------------------------------------------------------------------- errors and loading


class ConfigError(pulumi.RunError):
    """An invalid stack config. Each line names one key and its fix.

    A ``RunError``, so ``pulumi up`` prints the lines without a Python traceback."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _key_path(loc: tuple[Any, ...]) -> str:
    path = f"{NAMESPACE}:{loc[0]}" if loc else f"{NAMESPACE}"
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[]+(?:\[(?!\d+\])[^.\[]*)*)")


def _split_at(at: str) -> tuple[Any, ...]:
    """``"capacity.max"`` -> ("capacity", "max"); ``"instanceTypes[1]"`` -> ("instanceTypes", 1).
    Anything else between dots (a user's model name, whatever it holds) stays one part."""
    return tuple(int(index) if index else name for index, name in _PATH_PART.findall(at))


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The config section (model class) at ``loc``, for listing the keys valid there."""
    model: type[BaseModel] = StackConfig
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        if part not in fields:
            return None
        annotation: Any = fields[part].annotation
        origin = get_origin(annotation)
        if origin is dict:  # a map such as models: the next part is a key of the user's
            annotation = get_args(annotation)[1]
            if parts:
                parts.pop(0)
        elif origin is list:
            annotation = get_args(annotation)[0]
            if parts and isinstance(parts[0], int):
                parts.pop(0)
        elif origin in (Union, UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _unknown_key_message(loc: tuple[Any, ...]) -> str:
    section = _section_at(loc[:-1])
    if section is None:
        return "unknown key: remove it"
    known = [f.alias or n for n, f in section.model_fields.items()]
    if section is StackConfig:
        known.append(HUGGING_FACE_TOKEN_KEY)
    key = str(loc[-1])
    if to_camel(key) in known:
        return f"unknown key: keys are camelCase: did you mean {to_camel(key)}?"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown key: {hint}valid keys here: {', '.join(sorted(known))}"


_TYPE_MESSAGES = {
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
}


def _format(error: Mapping[str, Any]) -> list[str]:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return [f"{_key_path(loc)}: {_unknown_key_message(loc)}"]
    if kind == "config_rules":
        return [f"{_key_path(loc + _split_at(at))}: {message}" for at, message in error["ctx"]["problems"]]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "missing":
        message = "required: this key has no default; add it"
    elif kind in _TYPE_MESSAGES:
        message = f"{_TYPE_MESSAGES[kind]}, not {json.dumps(error['input'])}"
    elif kind == "string_pattern_mismatch":
        message = f"{error['input']!r} {_pattern_hint(loc)}"
    return [f"{_key_path(loc)}: {message[0].lower()}{message[1:]}"]


_PATTERN_HINTS = {
    "revision": "must be a 40-character commit hash of the model repository (pin it)",
    "modelId": "must be a Hugging Face repository id such as org/name",
    "certificateArn": "must be an ACM certificate ARN",
    "vpcId": "must be a VPC id: vpc- and 8 or 17 hex digits, such as vpc-0abc1234def567890",
    "privateSubnetIds": "must be a subnet id: subnet- and 8 or 17 hex digits, such as subnet-0abc1234def567890",
    "publicSubnetIds": "must be a subnet id: subnet- and 8 or 17 hex digits, such as subnet-0abc1234def567890",
    "amiId": "must be an AMI id: ami- and 8 or 17 hex digits, such as ami-0abc1234def567890",
    "emails": "must be an email address",
    "workerImage": (
        "must be an image reference with a tag or digest, "
        "e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-serving-worker:0.1.0"
    ),
}


def _pattern_hint(loc: tuple[Any, ...]) -> str:
    for part in reversed(loc):
        if isinstance(part, str) and part in _PATTERN_HINTS:
            return _PATTERN_HINTS[part]
    return "has the wrong format"


def parse_stack_config(raw: Mapping[str, Any], region: str | None = None, stack: str | None = None) -> StackConfig:
    """Validate the namespace's values (already JSON-decoded, keys without the namespace).

    ``region`` is the stack's AWS region, when known, for the rules that depend on it (an
    ACM certificate must be in it; a SageMaker model needs an engine image in its ECR).
    ``stack`` is the stack's name, when known, for the names derived from it (a SageMaker
    endpoint's). Raises ``ConfigError`` with every problem found."""
    context = {"region": region, "stack": stack}
    try:
        return StackConfig.model_validate(dict(raw), context=context)
    except ValidationError as e:
        lines = [line for err in e.errors(include_url=False) for line in _format(err)]
    # The stack-level rules ran only if every section was valid: run the production rules
    # on the sections that are, so one run reports everything.
    if not any(line.startswith(f"{NAMESPACE}:production") for line in lines):
        sections = {
            key: _valid_section(cls, raw.get(to_camel(key)), context) for key, cls in _PRODUCTION_SECTIONS.items()
        }
        production = raw.get("production") is True
        lines += [
            f"{_key_path(_split_at(at))}: {message}"
            for at, message in production_problems(production, **sections)  # type: ignore[arg-type]
        ]
    raise ConfigError(list(dict.fromkeys(lines)))


_PRODUCTION_SECTIONS: dict[str, type[Section]] = {
    "network": NetworkConfig,
    "load_balancer": LoadBalancerConfig,
    "alerts": AlertsConfig,
}


def _valid_section(cls: type[Section], value: Any, context: Mapping[str, Any]) -> Section | None:
    try:
        return cls.model_validate(value if value is not None else {}, context=context)
    except ValidationError:
        return None


def decode_value(value: Any) -> Any:
    """Pulumi passes every config value as a string; objects, lists, numbers and booleans
    as JSON text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def plain_token_lookalikes(raw: Mapping[str, Any]) -> list[str]:
    """Keys whose plain-text value looks like a Hugging Face token."""
    return [
        f"{NAMESPACE}:{key}: looks like a Hugging Face token in plain text; remove it and run "
        f"`pulumi config set --secret {NAMESPACE}:{HUGGING_FACE_TOKEN_KEY} <token>`"
        for key, value in raw.items()
        if _HF_TOKEN_LOOKALIKE.search(json.dumps(value))
    ]


def _secret_keys() -> set[str]:
    return set(runtime_config._SECRET_KEYS.get()) | set(runtime_config.get_config_secret_keys_env())


def _runtime_config() -> dict[str, str]:
    """The running stack's config (set by the CLI or by the offline plan): full keys -> values."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def namespace_values(values: Mapping[str, str]) -> dict[str, Any]:
    """The ``llm-serving:`` values of a stack's config, JSON-decoded, keys without the namespace."""
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix) :]: decode_value(v) for k, v in values.items() if k.startswith(prefix)}


def region_of(values: Mapping[str, str]) -> str | None:
    """The stack's AWS region as the AWS provider will see it: ``aws:region`` in stack
    config, else the environment (AWS_REGION, AWS_DEFAULT_REGION); None if neither says."""
    return values.get("aws:region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def read_namespace() -> dict[str, Any]:
    """Every ``llm-serving:`` value of the running stack (``namespace_values``)."""
    return namespace_values(_runtime_config())


def stack_region() -> str | None:
    """The running stack's region (``region_of``)."""
    return region_of(_runtime_config())


OTHER_PARTITION_REGION = re.compile(r"^(cn|us-gov|us-iso[bf]?|eu-isoe|eusc-de)-\w+-\d+$")
"""Regions of AWS's other partitions (China, GovCloud, the isolated ones, the European
Sovereign Cloud), from the region patterns of botocore's ``data/partitions.json``: their
ARNs, service domains and AWS-managed policies differ, and the program builds those of the
commercial partition (``aws``) only (docs/reference.md#regions-and-partitions)."""


def region_problem(region: str | None) -> str | None:
    if region is None or not OTHER_PARTITION_REGION.fullmatch(region):
        return None
    return (
        f"aws:region: {region} is outside AWS's commercial partition; llm-serving builds ARNs, image "
        "addresses and endpoints for commercial regions only: use one (e.g. us-east-1)"
    )


def stack_name_problem(stack: str) -> str | None:
    if re.fullmatch(STACK_NAME_PATTERN, stack):
        return None
    return (
        f"stack name {stack!r}: the stack's name becomes part of AWS names (its dashboard takes only "
        "letters, digits, - and _), so use 1 to 40 of those; rename it with `pulumi stack rename`"
    )


def load_stack_config() -> StackConfig:
    """Validate the running stack's config, or raise ``ConfigError`` naming every bad key.

    The Hugging Face token is checked to be a secret but never enters the model."""
    raw = read_namespace()
    token_key = f"{NAMESPACE}:{HUGGING_FACE_TOKEN_KEY}"
    errors = []
    region, stack = stack_region(), pulumi.get_stack()
    errors += [p for p in (stack_name_problem(stack), region_problem(region)) if p]
    if HUGGING_FACE_TOKEN_KEY in raw and token_key not in _secret_keys():
        errors.append(
            f"{token_key}: is stored in plain text; run "
            f"`pulumi config rm {token_key}` and `pulumi config set --secret {token_key} <token>`"
        )
    raw.pop(HUGGING_FACE_TOKEN_KEY, None)
    errors += plain_token_lookalikes(raw)
    try:
        config = parse_stack_config(raw, region, stack)
    except ConfigError as e:
        errors += e.lines
    if errors:
        raise ConfigError(errors)
    return config
