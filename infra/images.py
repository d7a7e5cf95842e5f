"""Engine images from AWS's Deep Learning Containers, resolved offline from AWS's own tables.

AWS publishes TGI and vLLM images in ECR, in every region's registry account
(``infra/image_tables/``: the files ``sagemaker.core.image_uris.retrieve`` reads). Pulled
in-region through the ECR endpoints, they need no internet, no NAT and no registry that
rate-limits anonymous pulls (docs/reference.md#container-registries). The EC2 fleet pulls
them by default; the SageMaker backend uses the same lookup.

The image URI is ``<account>.dkr.ecr.<region>.<domain>/<repository>:<tag>`` with the tag
``<tag_prefix>-gpu-<py>-<container_version>``, as the SDK builds it
(``sagemaker/core/image_uris.py``, ``_format_tag``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLES = Path(__file__).resolve().parent / "image_tables"


@dataclass(frozen=True)
class AwsImage:
    """An image of one of AWS's tables: a framework's table and a version in it."""

    framework: str
    """The table's name: ``huggingface-llm`` (TGI), ``vllm``."""
    version: str


class ImageNotAvailableError(ValueError):
    """AWS publishes no such image (version or region)."""


@functools.cache
def _table(framework: str) -> dict[str, Any]:
    return dict(json.loads((TABLES / f"{framework}.json").read_text())["inference"])


def versions(framework: str) -> list[str]:
    return sorted(_table(framework)["versions"], key=lambda v: [int(p) if p.isdigit() else 0 for p in v.split(".")])


def uri(image: AwsImage, region: str) -> str:
    """The image's URI in ``region``'s registry (GPU build)."""
    table = _table(image.framework)
    version = table.get("version_aliases", {}).get(image.version, image.version)
    entry = table["versions"].get(version)
    if entry is None:
        known = ", ".join(versions(image.framework))
        raise ImageNotAvailableError(f"AWS publishes no {image.framework} image {image.version} (versions: {known})")
    account = entry["registries"].get(region)
    if account is None:
        raise ImageNotAvailableError(f"AWS publishes no {image.framework} {version} image in {region}")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    tag = "-".join([entry["tag_prefix"], "gpu", entry["py_versions"][0], entry["container_version"]["gpu"]])
    return f"{account}.dkr.ecr.{region}.{domain}/{entry['repository']}:{tag}"


def cuda(image: AwsImage) -> tuple[int, int]:
    """The CUDA version an image is built for, from its tag (``cu124`` -> (12, 4)): what the
    host's NVIDIA driver must run."""
    entry = _table(image.framework)["versions"][_resolve(image)]
    tag = entry["container_version"]["gpu"]
    digits = tag.split("-", 1)[0].removeprefix("cu")
    return int(digits[:-1]), int(digits[-1])


def _resolve(image: AwsImage) -> str:
    return str(_table(image.framework).get("version_aliases", {}).get(image.version, image.version))
