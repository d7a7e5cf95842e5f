"""The model-serving engines, as data: everything the project knows about TGI and vLLM.

Every backend (EC2 user data, SageMaker, EKS), the config schema and the worker read an
engine's facts from here; nothing about an engine is written anywhere else.

TGI is the default engine (users asked for it); vLLM is the alternative because TGI has
been in maintenance mode since 2025-12-11 (its README recommends vLLM or SGLang).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

EngineName = Literal["tgi", "vllm"]

WORKER_HEADROOM = 1.25
"""In-flight requests per engine slot for engines that queue without limit: at exactly one
request per slot the engine idles while the worker does its AWS round trips for the next
one; 25% more kept a fake engine at 99.7% of its bound (benchmarks/worker_throughput.md)."""


class Quantization(StrEnum):
    """How the weights are stored on the GPU. The value is the config spelling."""

    NONE = "none"
    """BF16/FP16 weights: 2 bytes per parameter."""
    FP8 = "fp8"
    """8-bit floating point: 1 byte per parameter. Needs an Ada or Hopper GPU."""
    BITSANDBYTES = "bitsandbytes"
    """8-bit integer weights quantized at load time: 1 byte per parameter."""
    BITSANDBYTES_NF4 = "bitsandbytes-nf4"
    """4-bit NF4 weights quantized at load time: 0.5 byte per parameter."""
    AWQ = "awq"
    """Pre-quantized 4-bit AWQ checkpoint: 0.5 byte per parameter."""
    GPTQ = "gptq"
    """Pre-quantized 4-bit GPTQ checkpoint: 0.5 byte per parameter."""

    @property
    def bytes_per_parameter(self) -> float:
        return _BYTES_PER_PARAMETER[self]

    @property
    def needs_fp8_hardware(self) -> bool:
        return self is Quantization.FP8


_BYTES_PER_PARAMETER: dict[Quantization, float] = {
    Quantization.NONE: 2.0,
    Quantization.FP8: 1.0,
    Quantization.BITSANDBYTES: 1.0,
    Quantization.BITSANDBYTES_NF4: 0.5,
    Quantization.AWQ: 0.5,
    Quantization.GPTQ: 0.5,
}


SERVING_PORT = 8080
"""The port every engine listens on. One port for all: the target group's port forces its
replacement when it changes, and during a rollout from one engine to another the old and
the new instances must pass the same health check."""

DEFAULT_MAX_CONCURRENT_REQUESTS = 64
"""Requests one engine takes at once: enough to batch an 8B model well on one GPU, few
enough that a request's wait stays short. TGI's own default (128) queues more."""


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    """What the container arguments are derived from (one model on one instance type)."""

    model_id: str
    """Hugging Face repository id, e.g. ``meta-llama/Llama-3.1-8B-Instruct``."""
    revision: str
    """Commit of the repository: pinned so a rollout is a deliberate change."""
    served_model_name: str
    """The model's name in the stack; clients put it in the request's ``model`` field."""
    local_path: str | None = None
    """Where the weights already are inside the container (staged from S3): the engine loads
    them from there and never asks the Hub. None: the engine reads the Hub's cache."""
    max_input_tokens: int
    max_total_tokens: int
    quantization: Quantization
    num_shards: int
    """Tensor-parallel degree: the GPUs of the instance type."""
    max_concurrent_requests: int


@dataclass(frozen=True, kw_only=True)
class Engine:
    """One serving engine: its image, how it is started, and how it is probed."""

    name: EngineName
    image: str
    """The public registry's image, pinned to a release: used where AWS publishes no image of
    ``aws_image`` (or when a model sets ``image:``)."""
    aws_image: tuple[str, str]
    """AWS's Deep Learning Container of this engine, as (table, version) in AWS's image
    tables (infra/image_tables): pulled from ECR in the stack's region by default."""
    entrypoint: str
    """The program the container runs (``docker run --entrypoint``): the public and the AWS
    images start differently (AWS's start SageMaker's serving script), so it is explicit."""
    port: int
    """Port the engine listens on inside the instance (host networking): ``SERVING_PORT``
    for every engine."""
    readiness_path: str
    """200 once the weights are loaded and the engine serves; the ALB's health check."""
    metrics_path: str
    """Prometheus text exposition."""
    chat_completions_path: str
    """OpenAI-compatible chat completions route: what the worker and clients post to."""
    queue_size_metric: str
    """Prometheus gauge of requests waiting inside the engine."""
    running_metric: str | None
    """Prometheus gauge of requests being generated, when the engine has one."""
    shm_size_gib: int
    """Shared memory the container needs (NCCL between shards, PyTorch workers)."""
    graceful_stop_seconds: int
    """How long the engine may take to finish in-flight requests after SIGTERM."""
    model_cache_dir: str
    """Where the container keeps downloaded weights (a host volume is mounted here)."""
    token_env: str
    """Environment variable the engine reads the Hugging Face token from."""
    quantize_flag: str
    quantize_values: dict[Quantization, str]
    """Spelling of each supported quantization for this engine's flag."""
    admission_limited: bool
    """The engine answers 429 beyond its concurrency limit (TGI's --max-concurrent-requests
    counts queued requests too). An engine that queues without limit (vLLM: --max-num-seqs
    is only the batch) is fed more than its batch so it never idles between requests."""
    image_size_gib: int
    """Disk the unpacked image takes: the root volume is sized for it plus the weights."""
    download_entrypoint: str
    """Program in the image that downloads the weights without serving (warm-pool
    instances fetch them before they are stopped, so they start serving in about a minute)."""

    def worker_in_flight(self, max_concurrent_requests: int) -> int:
        """How many requests the queue worker keeps in flight for this engine."""
        if self.admission_limited:
            return max_concurrent_requests
        return math.ceil(WORKER_HEADROOM * max_concurrent_requests)

    def download_args(self, settings: EngineSettings) -> list[str]:
        """Arguments of ``download_entrypoint`` that fetch the model's weights into the cache."""
        if self.name == "tgi":
            return ["download-weights", settings.model_id, "--revision", settings.revision]
        # huggingface_hub's Python API: its command line has been renamed across releases.
        return ["-c", _SNAPSHOT_DOWNLOAD, settings.model_id, settings.revision]

    def container_args(self, settings: EngineSettings) -> list[str]:
        """The engine container's command-line arguments for one model and instance type."""
        if settings.quantization not in self.quantize_values:
            raise ValueError(
                f"{self.name} does not support quantization {settings.quantization.value!r}; "
                f"supported: {', '.join(q.value for q in self.quantize_values)}"
            )
        args = _ARG_BUILDERS[self.name](self, settings)
        quantize = self.quantize_values[settings.quantization]
        if quantize:
            args += [self.quantize_flag, quantize]
        return args


_SNAPSHOT_DOWNLOAD = (
    "import sys; from huggingface_hub import snapshot_download; snapshot_download(sys.argv[1], revision=sys.argv[2])"
)


def _model(s: EngineSettings, flag: str) -> list[str]:
    """The model to load: a local directory (staged weights), or a Hub id at its revision."""
    if s.local_path is not None:
        return [flag, s.local_path]
    return [flag, s.model_id, "--revision", s.revision]


def _tgi_args(engine: Engine, s: EngineSettings) -> list[str]:
    return [
        *_model(s, "--model-id"),
        "--hostname", "0.0.0.0",
        "--port", str(engine.port),
        "--num-shard", str(s.num_shards),
        "--max-input-tokens", str(s.max_input_tokens),
        "--max-total-tokens", str(s.max_total_tokens),
        "--max-concurrent-requests", str(s.max_concurrent_requests),
        "--graceful-termination-timeout", str(engine.graceful_stop_seconds),
        # Telemetry to Hugging Face off: serving data stays in the account.
        "--usage-stats", "off",
    ]  # fmt: skip


def _vllm_args(engine: Engine, s: EngineSettings) -> list[str]:
    return [
        "-m", "vllm.entrypoints.openai.api_server",
        *_model(s, "--model"),
        "--served-model-name", s.served_model_name,
        "--host", "0.0.0.0",
        "--port", str(engine.port),
        "--tensor-parallel-size", str(s.num_shards),
        # vLLM has one context limit; the input limit is enforced by max_tokens checks.
        "--max-model-len", str(s.max_total_tokens),
        "--max-num-seqs", str(s.max_concurrent_requests),
        # Request logging is off by default since vLLM 0.10; --disable-log-requests is gone
        # from 0.12 and would stop the engine from starting (docs/reference.md#engines-tgi-and-vllm).
    ]  # fmt: skip


_ARG_BUILDERS = {"tgi": _tgi_args, "vllm": _vllm_args}

SAGEMAKER_MODEL_DIR = "/opt/ml/model"
"""Where SageMaker puts a model's uncompressed S3 data inside the container."""


def sagemaker_environment(engine: Engine, s: EngineSettings) -> dict[str, str]:
    """The environment of AWS's SageMaker container of ``engine``, serving weights SageMaker
    copied from S3 to ``SAGEMAKER_MODEL_DIR`` with no network (docs/reference.md#sagemaker):
    the same limits as the EC2 engine's arguments, and no revision or token, which would
    send the engine to the Hub."""
    quantize = engine.quantize_values[s.quantization]
    if engine.name == "tgi":
        # AWS's TGI container maps HF_MODEL_ID, SM_NUM_GPUS and HF_MODEL_QUANTIZE to the
        # launcher's flags; the launcher reads every other flag from its upper-case name.
        env = {
            "HF_MODEL_ID": SAGEMAKER_MODEL_DIR,
            "SM_NUM_GPUS": str(s.num_shards),
            "MAX_INPUT_TOKENS": str(s.max_input_tokens),
            "MAX_TOTAL_TOKENS": str(s.max_total_tokens),
            "MAX_CONCURRENT_REQUESTS": str(s.max_concurrent_requests),
            "USAGE_STATS": "off",
        }
        if quantize:
            env["HF_MODEL_QUANTIZE"] = quantize
    else:
        # AWS's vLLM SageMaker container turns each SM_VLLM_<FLAG> into --<flag>.
        env = {
            "SM_VLLM_MODEL": SAGEMAKER_MODEL_DIR,
            "SM_VLLM_SERVED_MODEL_NAME": s.served_model_name,
            "SM_VLLM_TENSOR_PARALLEL_SIZE": str(s.num_shards),
            "SM_VLLM_MAX_MODEL_LEN": str(s.max_total_tokens),
            "SM_VLLM_MAX_NUM_SEQS": str(s.max_concurrent_requests),
            # Its supervisor pip-installs a requirements.txt found beside the weights: no
            # network here, and nothing to install.
            "STANDARD_AUTO_INSTALL_REQ": "false",
        }
        if quantize:
            env["SM_VLLM_QUANTIZATION"] = quantize
    # Weights are local: never ask the Hub (the container has no network anyway).
    return {**env, "HF_HUB_OFFLINE": "1"}


TGI = Engine(
    name="tgi",
    # 3.3.7 is TGI's last release (maintenance mode since 2025-12-11).
    image="ghcr.io/huggingface/text-generation-inference:3.3.7",
    # The newest TGI in AWS's table (3.3.7 has no AWS image): the same launcher and flags.
    aws_image=("huggingface-llm", "3.3.6"),
    entrypoint="text-generation-launcher",
    port=SERVING_PORT,
    readiness_path="/health",
    metrics_path="/metrics",
    chat_completions_path="/v1/chat/completions",
    queue_size_metric="tgi_queue_size",
    running_metric="tgi_batch_current_size",
    # TGI's docs: `--shm-size 1g` under Docker for NCCL between shards.
    shm_size_gib=1,
    # TGI's own default for --graceful-termination-timeout.
    graceful_stop_seconds=90,
    model_cache_dir="/data",
    token_env="HF_TOKEN",
    quantize_flag="--quantize",
    quantize_values={
        Quantization.NONE: "",
        Quantization.FP8: "fp8",
        Quantization.BITSANDBYTES: "bitsandbytes",
        Quantization.BITSANDBYTES_NF4: "bitsandbytes-nf4",
        Quantization.AWQ: "awq",
        Quantization.GPTQ: "gptq",
    },
    admission_limited=True,
    image_size_gib=30,
    download_entrypoint="text-generation-server",
)

VLLM = Engine(
    name="vllm",
    image="vllm/vllm-openai:v0.11.0",
    # The newest vLLM in AWS's table. A CUDA 13 build: the AMI's NVIDIA driver must be 580 or
    # newer (the current Deep Learning AMI has it; docs/reference.md#engines-tgi-and-vllm).
    aws_image=("vllm", "0.30.0"),
    entrypoint="python3",
    port=SERVING_PORT,
    readiness_path="/health",
    metrics_path="/metrics",
    chat_completions_path="/v1/chat/completions",
    queue_size_metric="vllm:num_requests_waiting",
    running_metric="vllm:num_requests_running",
    # vLLM's docs ask for --ipc=host or a large /dev/shm for tensor parallelism.
    shm_size_gib=8,
    graceful_stop_seconds=90,
    model_cache_dir="/root/.cache/huggingface",
    token_env="HF_TOKEN",
    quantize_flag="--quantization",
    quantize_values={
        Quantization.NONE: "",
        Quantization.FP8: "fp8",
        # vLLM's bitsandbytes path loads 4-bit weights.
        Quantization.BITSANDBYTES_NF4: "bitsandbytes",
        Quantization.AWQ: "awq",
        Quantization.GPTQ: "gptq",
    },
    admission_limited=False,
    image_size_gib=30,
    # huggingface_hub ships in every vLLM image.
    download_entrypoint="python3",
)

ENGINES: dict[EngineName, Engine] = {"tgi": TGI, "vllm": VLLM}
DEFAULT_ENGINE: EngineName = "tgi"
"""TGI by default: the engine users asked for; vLLM is one config key away."""


def engine(name: EngineName) -> Engine:
    return ENGINES[name]
