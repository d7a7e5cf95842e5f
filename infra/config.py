"""The stack config schema: everything under the ``llm-serving:`` namespace of a stack file.

Validated into one frozen ``StackConfig`` before any resource is declared. An invalid
config raises ``ConfigError`` whose lines name the full key path and the fix, e.g.
``llm-serving:models.chat.capacity.max: must be at least min (2)``.

Secrets never enter these models: the Hugging Face token is read separately as a Pulumi
secret (``read_hugging_face_token``).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
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
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components import load_balancer, network, request_queue, results_bucket
from infra import catalog
from model_server.engines import DEFAULT_MAX_CONCURRENT_REQUESTS, ENGINES, EngineName, EngineSettings, Quantization

NAMESPACE = "llm-serving"
HUGGING_FACE_TOKEN_KEY = "huggingFaceToken"

MODEL_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,14}[a-z0-9]$"
"""Model names become parts of AWS names (target groups: 32 characters including Pulumi's
8-character random suffix and our own suffixes), S3 prefixes and metric dimensions."""

_HF_TOKEN_LOOKALIKE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")


def _rule(at: str, message: str) -> PydanticCustomError:
    """A rule violation that points below the model being validated (``at`` is camelCase,
    relative to it), so the message names the exact key."""
    return PydanticCustomError("config_rule", message, {"at": at})


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


# ---------------------------------------------------------------------------- network


class ExistingNetworkConfig(Section):
    """Deploy into a VPC you already have instead of creating one."""

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    """The VPC to deploy into."""
    private_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(min_length=2)
    """Subnets of the GPU fleet, in at least two AZs; they need a route to the internet
    (NAT) or VPC endpoints for every AWS API the fleet calls."""
    public_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = []
    """Subnets of a public load balancer; unused when it is internal."""


class NetworkConfig(Section):
    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network(network.DEFAULT_CIDR)
    """Address range of a new VPC (default and why: components.network)."""
    availability_zones: int = Field(network.DEFAULT_AVAILABILITY_ZONES, ge=2, le=6)
    """AZs to spread over: 2 at least, because the load balancer needs two and a single AZ
    is a single point of failure (and of spot capacity)."""
    nat_gateways: network.NatGateways = network.DEFAULT_NAT_GATEWAYS
    """`single` is cheapest (one NAT, about $33/month); `perAz` survives the loss of an
    AZ; `none` means the fleet reaches AWS only through VPC endpoints and must pull its
    images and weights from ECR and S3."""
    interface_endpoints: list[str] = list(network.DEFAULT_INTERFACE_ENDPOINTS)
    """Interface VPC endpoints (service names as in `com.amazonaws.<region>.<name>`).
    An S3 gateway endpoint, which is free, is always created."""
    existing: ExistingNetworkConfig | None = None
    """Use an existing VPC: then cidr, availabilityZones, natGateways and
    interfaceEndpoints must not be set."""

    @field_validator("cidr")
    @classmethod
    def _cidr_size(cls, v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= v.prefixlen <= 22:
            raise ValueError(f"{v} must be a /16 to /22 so every AZ gets public and private subnets")
        return v

    @field_validator("interface_endpoints")
    @classmethod
    def _known_endpoints(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.fullmatch(r"[a-z0-9.-]+", name):
                raise ValueError(f"{name!r} is not an AWS service name such as 'sqs' or 'ecr.api'")
        if len(set(v)) != len(v):
            raise ValueError("lists a service twice")
        return v

    @model_validator(mode="after")
    def _existing_excludes_new(self) -> NetworkConfig:
        if self.existing is not None:
            clash = sorted(
                to_camel(f)
                for f in self.model_fields_set & {"cidr", "availability_zones", "nat_gateways", "interface_endpoints"}
            )
            if clash:
                raise _rule(
                    clash[0],
                    "cannot be set together with network.existing; remove it or remove existing",
                )
        if self.nat_gateways == "none" and "ecr.dkr" not in self.interface_endpoints:
            raise _rule(
                "natGateways",
                "'none' leaves the fleet no way to pull images: add 'ecr.api' and 'ecr.dkr' "
                "to interfaceEndpoints (and mirror the engine image into ECR) or use 'single'",
            )
        return self


# ---------------------------------------------------------------------- load balancer


class LoadBalancerConfig(Section):
    internal: bool = True
    """Internal by default: reachable only inside the VPC (and peered networks)."""
    allowed_cidrs: list[ipaddress.IPv4Network] = []
    """Who may connect. Empty means the VPC's own range."""
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/.+$")
    """ACM certificate for the HTTPS listener; without one the listener is plain HTTP
    (refused for production stacks)."""
    idle_timeout_seconds: int = Field(load_balancer.DEFAULT_IDLE_TIMEOUT_SECONDS, ge=300, le=4000)
    """Streamed generations hold a connection open; AWS's 60 s default cuts them."""

    @model_validator(mode="after")
    def _public_needs_cidrs(self) -> LoadBalancerConfig:
        if not self.internal and not self.allowed_cidrs:
            raise _rule(
                "allowedCidrs",
                "a public load balancer needs an explicit allow list "
                "(use [0.0.0.0/0] only if you really mean the whole internet)",
            )
        return self


# ----------------------------------------------------------------------------- alerts


class AlertsConfig(Section):
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = []
    """Subscribed to the alarm topic (each address must confirm AWS's email)."""


class ResultsConfig(Section):
    expiration_days: int = Field(results_bucket.DEFAULT_EXPIRATION_DAYS, ge=1, le=3650)
    """Results are deleted after this many days: they hold prompts and completions, which
    should not live forever."""


# ----------------------------------------------------------------------------- models


class CapacityConfig(Section):
    min: int = Field(0, ge=0, le=100)
    """0 lets the model scale to zero when its queue is empty (no GPU cost when idle)."""
    max: int = Field(2, ge=1, le=100)
    """Upper bound on instances across spot and on-demand: the cost ceiling."""
    on_demand_base: int = Field(0, ge=0, le=100)
    """Instances that are always on-demand (never interrupted). 0 means spot only."""
    warm_pool: int = Field(0, ge=0, le=100)
    """Stopped on-demand instances kept with image and weights on disk, ready in about
    a minute instead of many. They cost only their volumes while stopped."""
    on_demand_fallback_max: int | None = Field(None, ge=0, le=100)
    """Extra on-demand instances while spot cannot deliver. Unset: up to max - onDemandBase
    (all the spot capacity); 0 turns the fallback off."""

    @model_validator(mode="after")
    def _bounds(self) -> CapacityConfig:
        if self.max < self.min:
            raise _rule("max", f"must be at least min ({self.min})")
        if self.on_demand_base > self.max:
            raise _rule("onDemandBase", f"must be at most max ({self.max})")
        if self.fallback_max > self.max - self.on_demand_base:
            raise _rule("onDemandFallbackMax", f"must be at most max - onDemandBase ({self.max - self.on_demand_base})")
        on_demand_max = self.on_demand_base + self.fallback_max
        if self.warm_pool > on_demand_max:
            raise _rule(
                "warmPool",
                f"must be at most what the on-demand group can grow to (onDemandBase "
                f"{self.on_demand_base} + onDemandFallbackMax {self.fallback_max} = {on_demand_max}): "
                "warm instances only ever join that group",
            )
        return self

    @property
    def fallback_max(self) -> int:
        if self.on_demand_fallback_max is not None:
            return self.on_demand_fallback_max
        return self.max - self.on_demand_base


class QueueConfig(Section):
    visibility_timeout_seconds: int = Field(request_queue.DEFAULT_VISIBILITY_TIMEOUT_SECONDS, ge=30, le=43200)
    """How long a worker owns a message before SQS hands it to another one; the worker
    extends it while a generation runs, so it only matters when a worker dies."""
    max_receive_count: int = Field(request_queue.DEFAULT_MAX_RECEIVE_COUNT, ge=2, le=1000)
    """Deliveries before a message moves to the dead-letter queue (>= 2, as AWS advises;
    default and why: components.request_queue)."""
    retention_seconds: int = Field(
        request_queue.DEFAULT_RETENTION_SECONDS, ge=60, lt=request_queue.DEAD_LETTER_RETENTION_SECONDS
    )
    """How long an unserved request waits (4 days, SQS's default). Below 14 days so the
    dead-letter queue, which keeps messages 14 days, always outlives it."""


class ScheduleConfig(Section):
    off_cron: str = Field(pattern=r"^\S+( \S+){4}$")
    """Cron (minute hour day month weekday) when both groups go to zero, e.g. `0 19 * * 1-5`."""
    on_cron: str = Field(pattern=r"^\S+( \S+){4}$")
    """Cron when the configured capacity comes back, e.g. `0 7 * * 1-5`."""
    time_zone: str = "UTC"
    """IANA time zone of both crons, e.g. Europe/Berlin."""


class ModelConfig(Section):
    model_id: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
    """Hugging Face repository id, e.g. meta-llama/Llama-3.1-8B-Instruct."""
    revision: str = Field(pattern=r"^[0-9a-f]{40}$")
    """Commit of the model repository. Pinned, so a new revision is a reviewed change that
    rolls out deliberately (a branch name would change under a running fleet)."""
    parameters_billions: float = Field(gt=0, le=2000)
    """Size of the model: the GPU-memory check needs it and nothing can be fetched from
    the Hub at plan time."""
    engine: EngineName = "tgi"
    """`tgi` (default) or `vllm`."""
    backend: Literal["ec2", "sagemaker", "eks"] = "ec2"
    """Where the model runs. Only `ec2` is built so far."""
    quantization: Quantization = Quantization.NONE
    """How weights are stored on the GPU; decides bytes per parameter."""
    instance_types: list[str] = Field(min_length=1, max_length=20)
    """GPU instance types, most preferred first. Spot draws on all of them, so list
    several with the same GPU count; the first is the on-demand type."""
    capacity: CapacityConfig = CapacityConfig()
    """How many instances: scale-to-zero by default, spot unless onDemandBase says otherwise."""
    max_input_tokens: int = Field(4096, ge=1)
    """Longest prompt the engine accepts; longer requests fail at once, never retried."""
    max_total_tokens: int = Field(8192, ge=2)
    """Prompt plus completion: bounds the KV cache per request."""
    max_concurrent_requests: int = Field(DEFAULT_MAX_CONCURRENT_REQUESTS, ge=1, le=4096)
    """Requests the engine batches at once; more get HTTP 429 and are retried."""
    queue: QueueConfig = QueueConfig()
    """The model's request queue and its dead-letter queue."""
    image: str | None = None
    """Override the engine's pinned image (e.g. a copy in your ECR)."""
    max_generation_seconds: int = Field(300, ge=10, le=3600)
    """Longest a single generation may run: the load balancer waits this long for a
    leaving instance's requests (deregistration delay)."""
    health_check_grace_seconds: int | None = Field(None, ge=60, le=7200)
    """How long a new instance has to load the model before health checks count. Unset:
    estimated from the weights and the engine image (components.gpu_fleet)."""
    target_backlog_per_instance: float | None = Field(None, gt=0)
    """Queue backlog plus in-flight requests per instance that scaling aims for. Unset:
    maxConcurrentRequests (each instance full, nothing waiting)."""
    schedule: ScheduleConfig | None = None
    """Switch the model off and on at fixed times (e.g. dev outside working hours)."""

    @field_validator("instance_types")
    @classmethod
    def _no_duplicates(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("lists an instance type twice")
        return v

    @model_validator(mode="after")
    def _rules(self) -> ModelConfig:
        if self.backend != "ec2":
            raise _rule(
                "backend",
                f"'{self.backend}' is not available yet (planned in a later release); use 'ec2'",
            )
        if self.max_input_tokens >= self.max_total_tokens:
            raise _rule(
                "maxInputTokens",
                f"must be less than maxTotalTokens ({self.max_total_tokens}) to leave room for the completion",
            )
        engine = ENGINES[self.engine]
        if self.quantization not in engine.quantize_values:
            supported = ", ".join(q.value for q in engine.quantize_values)
            raise _rule(
                "quantization",
                f"'{self.quantization.value}' is not supported by {self.engine}; use one of {supported}",
            )
        self._check_instance_types()
        return self

    def _check_instance_types(self) -> None:
        types = []
        for i, name in enumerate(self.instance_types):
            try:
                types.append(catalog.lookup(name))
            except catalog.UnknownInstanceTypeError as e:
                raise _rule(f"instanceTypes[{i}]", str(e)) from None
        for i, t in enumerate(types):
            self._check_fits(i, t)
            if self.quantization.needs_fp8_hardware and not t.gpu.fp8:
                raise _rule(
                    f"instanceTypes[{i}]",
                    f"{t.name} has {t.gpu.model} GPUs, which lack FP8; "
                    "use an L4, L40S or H100 type (g6, g6e, p5) or another quantization",
                )
        if self.capacity.max > self.capacity.on_demand_base and len(types) < 2:
            raise _rule(
                "instanceTypes",
                "spot capacity needs at least two instance types (each is its own spot pool; "
                "one pool runs dry often); add one, or set capacity.onDemandBase to max",
            )
        counts = {t.gpu_count for t in types}
        if len(counts) > 1:
            listing = ", ".join(f"{t.name}: {t.gpu_count}" for t in types)
            raise _rule(
                "instanceTypes",
                f"must all have the same number of GPUs, because the engine shards the model "
                f"over all of them ({listing})",
            )

    def _check_fits(self, index: int, t: catalog.InstanceType) -> None:
        weights = catalog.weights_gb(self.parameters_billions, self.quantization.bytes_per_parameter)
        usable = catalog.usable_gpu_memory_gb(t)
        if weights <= usable:
            return
        fits = catalog.smallest_fitting(weights)
        suggestion = f"; the cheapest type that fits is {fits.name}" if fits else ""
        raise _rule(
            f"instanceTypes[{index}]",
            f"{t.name} cannot hold the weights: {self.parameters_billions:g}B parameters x "
            f"{self.quantization.bytes_per_parameter:g} bytes ({self.quantization.value}) = "
            f"{weights:g} GB > {usable:g} GB usable "
            f"({catalog.GPU_MEMORY_USABLE_FRACTION:.0%} of {t.gpu_count} x {t.gpu.memory_gb} GB "
            f"{t.gpu.model}){suggestion}, or quantize",
        )

    @property
    def instance_catalog(self) -> list[catalog.InstanceType]:
        return [catalog.CATALOG[name] for name in self.instance_types]

    def engine_settings(self, name: str) -> EngineSettings:
        return EngineSettings(
            model_id=self.model_id,
            revision=self.revision,
            served_model_name=name,
            max_input_tokens=self.max_input_tokens,
            max_total_tokens=self.max_total_tokens,
            quantization=self.quantization,
            num_shards=self.instance_catalog[0].gpu_count,
            max_concurrent_requests=self.max_concurrent_requests,
        )


class StackConfig(Section):
    production: bool = False
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
    worker_image: str = Field(pattern=r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$")
    """Image of the queue worker, built from model_server/Dockerfile and pushed to a
    registry the instances can pull from (ECR: the instance role gets pull rights)."""
    models: dict[str, ModelConfig] = Field(min_length=1)
    """The models to serve, keyed by name: reordering them replaces nothing."""

    @field_validator("models")
    @classmethod
    def _model_names(cls, v: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        for name in v:
            if not re.fullmatch(MODEL_NAME_PATTERN, name):
                raise _rule(
                    name,
                    "model names must be 2 to 16 characters of lowercase letters, digits and "
                    "hyphens, starting with a letter (they become parts of AWS resource names)",
                )
        return v

    @model_validator(mode="after")
    def _production_rules(self) -> StackConfig:
        if not self.production:
            return self
        if self.network.existing is None and self.network.nat_gateways == "single":
            raise _rule(
                "network.natGateways",
                "production stacks need 'perAz' (or 'none' with VPC endpoints): one NAT "
                "gateway is a single-AZ point of failure",
            )
        if self.load_balancer.certificate_arn is None:
            raise _rule(
                "loadBalancer.certificateArn",
                "production stacks serve HTTPS only: set an ACM certificate ARN",
            )
        if not self.alerts.emails:
            raise _rule("alerts.emails", "production stacks need at least one address to alert")
        return self


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


def _split_at(at: str) -> tuple[Any, ...]:
    parts: list[Any] = []
    for piece in at.split("."):
        name, *indices = piece.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i.rstrip("]")) for i in indices)
    return tuple(parts)


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
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown key: {hint}valid keys here: {', '.join(sorted(known))}"


def _format(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{_key_path(loc)}: {_unknown_key_message(loc)}"
    if error["type"] == "config_rule":
        loc = loc + _split_at(error["ctx"]["at"])
        return f"{_key_path(loc)}: {error['msg']}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required: this key has no default; add it"
    elif error["type"] == "string_pattern_mismatch":
        message = f"{error['input']!r} {_pattern_hint(loc)}"
    return f"{_key_path(loc)}: {message[0].lower()}{message[1:]}"


_PATTERN_HINTS = {
    "revision": "must be a 40-character commit hash of the model repository (pin it)",
    "modelId": "must be a Hugging Face repository id such as org/name",
    "certificateArn": "must be an ACM certificate ARN",
    "vpcId": "must be a VPC id such as vpc-0abc12345",
    "emails": "must be an email address",
    "workerImage": (
        "must be an image reference with a tag or digest, "
        "e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-serving-worker:0.1.0"
    ),
    "offCron": "must be a cron of 5 fields, e.g. '0 19 * * 1-5'",
    "onCron": "must be a cron of 5 fields, e.g. '0 7 * * 1-5'",
}


def _pattern_hint(loc: tuple[Any, ...]) -> str:
    for part in reversed(loc):
        if isinstance(part, str) and part in _PATTERN_HINTS:
            return _PATTERN_HINTS[part]
    return "has the wrong format"


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate the namespace's values (already JSON-decoded, keys without the namespace)."""
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as e:
        raise ConfigError(list(dict.fromkeys(_format(err) for err in e.errors(include_url=False)))) from None


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


def read_namespace() -> dict[str, Any]:
    """Every ``llm-serving:`` value of the running stack, JSON-decoded, keys without the
    namespace. Read from the Pulumi runtime (set by the CLI or by the offline plan)."""
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix) :]: decode_value(v) for k, v in merged.items() if k.startswith(prefix)}


def load_stack_config() -> StackConfig:
    """Validate the running stack's config, or raise ``ConfigError`` naming every bad key.

    The Hugging Face token is checked to be a secret but never enters the model."""
    raw = read_namespace()
    token_key = f"{NAMESPACE}:{HUGGING_FACE_TOKEN_KEY}"
    errors = []
    if HUGGING_FACE_TOKEN_KEY in raw and token_key not in _secret_keys():
        errors.append(
            f"{token_key}: is stored in plain text; run "
            f"`pulumi config rm {token_key}` and `pulumi config set --secret {token_key} <token>`"
        )
    raw.pop(HUGGING_FACE_TOKEN_KEY, None)
    errors += plain_token_lookalikes(raw)
    try:
        config = parse_stack_config(raw)
    except ConfigError as e:
        errors += e.lines
    if errors:
        raise ConfigError(errors)
    return config
