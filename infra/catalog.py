"""The AWS GPU instance types a model can run on, with what the config rules need to know.

Sources (checked 2026; prices drift, refresh them with the AWS Price List API or
SkyPilot's public AWS catalog, and say so in the commit):
- GPU model, count and memory: the EC2 accelerated-computing instance pages
  (https://aws.amazon.com/ec2/instance-types/#Accelerated_Computing).
- Memory bandwidth: the GPU vendors' data sheets (NVIDIA T4 320 GB/s, A10G 600 GB/s,
  L4 300 GB/s, L40S 864 GB/s, A100 40 GB 1555 GB/s, H100 SXM 80 GB 3350 GB/s).
- On-demand Linux price, us-east-1: AWS's price list as snapshotted by SkyPilot's AWS
  catalog (2026); docs/reference.md#gpus-and-prices lists the one-GPU sizes.
- SageMaker real-time hosting types: the same machines with an ``ml.`` name, the sizes
  SageMaker's API accepts for a production variant (docs/reference.md#sagemaker). Their
  hosting price is not recorded: no source for it could be read offline (see
  ``SageMakerInstanceType.hosting_usd_per_hour``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload


@dataclass(frozen=True)
class Gpu:
    model: str
    memory_gb: int
    """Memory of one GPU, in GB (10^9 bytes, as AWS and NVIDIA quote it)."""
    bandwidth_gb_per_s: int
    """Memory bandwidth of one GPU: the bound of single-stream decode speed."""
    fp8: bool
    """Has FP8 tensor cores (Ada, Hopper). Turing and Ampere do not."""


T4 = Gpu("T4", 16, 320, fp8=False)
A10G = Gpu("A10G", 24, 600, fp8=False)
L4 = Gpu("L4", 24, 300, fp8=True)
L40S = Gpu("L40S", 48, 864, fp8=True)
A100_40 = Gpu("A100 40GB", 40, 1555, fp8=False)
H100_80 = Gpu("H100 80GB", 80, 3350, fp8=True)


@dataclass(frozen=True)
class InstanceType:
    name: str
    gpu: Gpu
    gpu_count: int
    vcpus: int
    memory_gib: int
    on_demand_usd_per_hour: float
    """us-east-1 Linux on-demand; used for cost estimates, never for billing."""

    @property
    def gpu_memory_gb(self) -> int:
        return self.gpu.memory_gb * self.gpu_count


def _family(gpu: Gpu, sizes: list[tuple[str, int, int, int, float]]) -> list[InstanceType]:
    return [InstanceType(name, gpu, count, vcpus, mem, price) for name, count, vcpus, mem, price in sizes]


CATALOG: dict[str, InstanceType] = {
    t.name: t
    for t in [
        *_family(
            T4,
            [
                ("g4dn.xlarge", 1, 4, 16, 0.526),
                ("g4dn.2xlarge", 1, 8, 32, 0.752),
                ("g4dn.4xlarge", 1, 16, 64, 1.204),
                ("g4dn.8xlarge", 1, 32, 128, 2.176),
                ("g4dn.12xlarge", 4, 48, 192, 3.912),
                ("g4dn.16xlarge", 1, 64, 256, 4.352),
            ],
        ),
        *_family(
            A10G,
            [
                ("g5.xlarge", 1, 4, 16, 1.006),
                ("g5.2xlarge", 1, 8, 32, 1.212),
                ("g5.4xlarge", 1, 16, 64, 1.624),
                ("g5.8xlarge", 1, 32, 128, 2.448),
                ("g5.12xlarge", 4, 48, 192, 5.672),
                ("g5.16xlarge", 1, 64, 256, 4.096),
                ("g5.24xlarge", 4, 96, 384, 8.144),
                ("g5.48xlarge", 8, 192, 768, 16.288),
            ],
        ),
        *_family(
            L4,
            [
                ("g6.xlarge", 1, 4, 16, 0.805),
                ("g6.2xlarge", 1, 8, 32, 0.978),
                ("g6.4xlarge", 1, 16, 64, 1.323),
                ("g6.8xlarge", 1, 32, 128, 2.014),
                ("g6.12xlarge", 4, 48, 192, 4.602),
                ("g6.16xlarge", 1, 64, 256, 3.397),
                ("g6.24xlarge", 4, 96, 384, 6.675),
                ("g6.48xlarge", 8, 192, 768, 13.350),
            ],
        ),
        *_family(
            L40S,
            [
                ("g6e.xlarge", 1, 4, 32, 1.861),
                ("g6e.2xlarge", 1, 8, 64, 2.242),
                ("g6e.4xlarge", 1, 16, 128, 3.004),
                ("g6e.8xlarge", 1, 32, 256, 4.529),
                ("g6e.12xlarge", 4, 48, 384, 10.493),
                ("g6e.16xlarge", 1, 64, 512, 7.577),
                ("g6e.24xlarge", 4, 96, 768, 15.066),
                ("g6e.48xlarge", 8, 192, 1536, 30.131),
            ],
        ),
        *_family(A100_40, [("p4d.24xlarge", 8, 96, 1152, 21.96)]),
        *_family(H100_80, [("p5.48xlarge", 8, 192, 2048, 55.04)]),
    ]
}


@dataclass(frozen=True)
class SageMakerInstanceType:
    """A SageMaker real-time hosting type: an EC2 machine under an ``ml.`` name."""

    name: str
    hardware: InstanceType
    """The EC2 type of the same machine: its GPUs, vCPUs and memory."""
    hosting_usd_per_hour: float | None = None
    """SageMaker's real-time inference on-demand price (us-east-1). None: not recorded,
    because no source for it could be read offline (AWS's pricing page and price list were
    out of reach); SageMaker charges more than EC2 for the same machine, so the EC2 price is
    a lower bound, never an estimate (docs/reference.md#sagemaker)."""
    local_nvme: bool = True
    """Has local NVMe instance storage. SageMaker then uses it for the model and provisions
    no EBS volume, and a production variant must not set VolumeSizeInGB (every GPU family of
    the catalog has NVMe: docs/reference.md#sagemaker)."""

    @property
    def gpu(self) -> Gpu:
        return self.hardware.gpu

    @property
    def gpu_count(self) -> int:
        return self.hardware.gpu_count

    @property
    def gpu_memory_gb(self) -> int:
        return self.hardware.gpu_memory_gb


SAGEMAKER_FAMILIES = ("g4dn", "g5", "g6", "g6e", "p4d", "p5")
"""Every size of these families in ``CATALOG`` is a real-time hosting type too: SageMaker's
ProductionVariantInstanceType lists all of them (docs/reference.md#sagemaker)."""

SAGEMAKER_CATALOG: dict[str, SageMakerInstanceType] = {
    f"ml.{t.name}": SageMakerInstanceType(f"ml.{t.name}", t)
    for t in CATALOG.values()
    if t.name.split(".")[0] in SAGEMAKER_FAMILIES
}

GPU_MEMORY_USABLE_FRACTION = 0.9
"""Share of GPU memory the weights and the KV cache may take: engines keep the rest for the
CUDA context and activations (vLLM's default gpu_memory_utilization is 0.9)."""

GPU_CLASS_ORDER = (T4, L4, A10G, L40S, A100_40, H100_80)
"""GPUs from the cheapest to the dearest per GPU-hour (the 1-GPU or per-GPU on-demand
prices above): a suggestion stays in the user's class or goes cheaper before it goes up."""


def weights_gb(parameters_billions: float, bytes_per_parameter: float) -> float:
    """Size of a model's weights in GB: 10^9 parameters x bytes each / 10^9 bytes."""
    return parameters_billions * bytes_per_parameter


@dataclass(frozen=True)
class MemoryFit:
    """What one GPU of an instance must hold: its share of the weights and the KV cache of
    one request of the longest allowed length (engines refuse to start otherwise: vLLM when
    the KV cache cannot hold max_model_len, TGI when it cannot hold max_total_tokens)."""

    weights_gb: float
    kv_bytes_per_token: int
    tokens: int
    usable_gb: float

    @property
    def kv_gb(self) -> float:
        return self.kv_bytes_per_token * self.tokens / 1e9

    @property
    def fits(self) -> bool:
        return self.weights_gb + self.kv_gb <= self.usable_gb


def memory_fit(
    instance: InstanceType | SageMakerInstanceType, *, weights_gb: float, kv_bytes_per_token: int, tokens: int
) -> MemoryFit:
    """Per GPU: the weights are split evenly over the instance's GPUs (tensor parallelism);
    ``kv_bytes_per_token`` is already per GPU (model_catalog.kv_cache_bytes_per_token)."""
    return MemoryFit(
        weights_gb=weights_gb / instance.gpu_count,
        kv_bytes_per_token=kv_bytes_per_token,
        tokens=tokens,
        usable_gb=instance.gpu.memory_gb * GPU_MEMORY_USABLE_FRACTION,
    )


@overload
def suggest(listed: InstanceType, fits: Callable[[InstanceType], bool]) -> str: ...
@overload
def suggest(listed: SageMakerInstanceType, fits: Callable[[SageMakerInstanceType], bool]) -> str: ...
def suggest(listed: InstanceType | SageMakerInstanceType, fits: Callable[[Any], bool]) -> str:
    """A hint naming the types that would fit, cheapest first, from the listed type's own GPU
    class or cheaper ones; a dearer class only when nothing else fits. SageMaker types are
    suggested for a SageMaker type, EC2 types for an EC2 type."""
    rank = {gpu: i for i, gpu in enumerate(GPU_CLASS_ORDER)}
    candidates = SAGEMAKER_CATALOG.values() if isinstance(listed, SageMakerInstanceType) else CATALOG.values()
    fitting: list[InstanceType | SageMakerInstanceType] = sorted((t for t in candidates if fits(t)), key=_ranking_price)
    same_or_cheaper = [t for t in fitting if rank[t.gpu] <= rank[listed.gpu]]
    if same_or_cheaper:
        return f"types with {listed.gpu.model} or cheaper GPUs that fit: {_listing(same_or_cheaper[:3])}"
    if fitting:
        return f"no {listed.gpu.model} or cheaper GPU holds it; the cheapest types that do: {_listing(fitting[:3])}"
    return ""


def _ranking_price(t: InstanceType | SageMakerInstanceType) -> float:
    """What orders suggestions: the price, or for a SageMaker type whose hosting price is not
    recorded, its machine's EC2 price (SageMaker's prices follow the machine's)."""
    if isinstance(t, InstanceType):
        return t.on_demand_usd_per_hour
    if t.hosting_usd_per_hour is not None:
        return t.hosting_usd_per_hour
    return t.hardware.on_demand_usd_per_hour


def _listing(types: list[InstanceType | SageMakerInstanceType]) -> str:
    return ", ".join(f"{t.name} ({t.gpu_count} x {t.gpu.model}{_price(t)})" for t in types)


def _price(t: InstanceType | SageMakerInstanceType) -> str:
    price = t.on_demand_usd_per_hour if isinstance(t, InstanceType) else t.hosting_usd_per_hour
    return f", ${price:g}/h" if price is not None else ""


class UnknownInstanceTypeError(ValueError):
    pass


SAGEMAKER_PREFIX = "ml."
"""SageMaker spells instance types with this prefix (ml.g5.xlarge); EC2 does not."""


def lookup(name: str) -> InstanceType:
    """The catalog entry for ``name`` (matched case-insensitively), or an error that says
    what was probably meant."""
    key = name.strip().lower()
    if key in CATALOG:
        return CATALOG[key]
    if key.startswith(SAGEMAKER_PREFIX):
        ec2_name = key[len(SAGEMAKER_PREFIX) :]
        known = f"use {ec2_name}" if ec2_name in CATALOG else "drop the ml. prefix"
        raise UnknownInstanceTypeError(f"{name} is a SageMaker instance type; on EC2 {known}")
    family = key.split(".", 1)[0]
    close = difflib.get_close_matches(key, list(CATALOG), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else ""
    # Every AWS GPU family starts with g or p; anything else (m5, c7i, inf2, trn1) has no
    # NVIDIA GPU for TGI or vLLM.
    if family[:1] in {"g", "p"}:
        raise UnknownInstanceTypeError(f"{name} is not a GPU instance type in the catalog{hint}")
    families = sorted({t.split(".")[0] for t in CATALOG})
    raise UnknownInstanceTypeError(
        f"{name} is not a GPU instance type; models need an NVIDIA GPU family: {', '.join(families)}"
    )


def lookup_sagemaker(name: str) -> SageMakerInstanceType:
    """The SageMaker hosting type ``name`` (matched case-insensitively), or an error that
    says what was probably meant (an EC2 name gets its ``ml.`` name)."""
    key = name.strip().lower()
    if key in SAGEMAKER_CATALOG:
        return SAGEMAKER_CATALOG[key]
    if not key.startswith(SAGEMAKER_PREFIX):
        if f"{SAGEMAKER_PREFIX}{key}" in SAGEMAKER_CATALOG:
            raise UnknownInstanceTypeError(f"{name} is an EC2 instance type; on SageMaker use {SAGEMAKER_PREFIX}{key}")
        raise UnknownInstanceTypeError(
            f"{name} is not a SageMaker instance type: SageMaker's names start with ml. (e.g. ml.g5.xlarge)"
        )
    family = key[len(SAGEMAKER_PREFIX) :].split(".", 1)[0]
    close = difflib.get_close_matches(key, list(SAGEMAKER_CATALOG), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else ""
    if family[:1] in {"g", "p"}:
        raise UnknownInstanceTypeError(f"{name} is not a SageMaker GPU hosting type in the catalog{hint}")
    families = ", ".join(f"ml.{f}" for f in SAGEMAKER_FAMILIES)
    raise UnknownInstanceTypeError(f"{name} is not a GPU instance type; models need an NVIDIA GPU family: {families}")
