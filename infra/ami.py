"""The GPU AMI of a stack: which one AWS publishes now, which one the stack pins, and how to
move the pin.

The fleet runs a pinned AMI (``llm-serving:ec2.amiId``): read from AWS's ``latest``
parameter at every run, the AMI would change under any deploy once AWS publishes a new
one, and every GPU instance would be replaced. Moving to a newer AMI is a change like any
other: ``llm-serving ami latest STACK --write`` pins the newest one in the stack file, the
plan shows the launch template's new version, and ``pulumi up`` rolls it out (instance
refresh, rolled back on alarms).

AWS publishes the newest Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023)
of each region as a public SSM parameter (docs/reference.md#ec2-instances-and-amis).
Calls go through boto3, which honours ``AWS_ENDPOINT_URL`` (tests point it at moto).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GPU_AMI_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
"""AWS's Deep Learning Base AMI (Amazon Linux 2023): NVIDIA driver, Docker and the NVIDIA
container toolkit, for every G and P type in the catalog."""
AMI_KEY = "llm-serving:ec2"


@dataclass(frozen=True)
class Ami:
    id: str
    name: str | None
    """AWS's name for the image (it carries the release date); None when it is not found."""
    created: str | None


def latest(region: str, session: Any = None) -> Ami:
    """The newest GPU AMI AWS publishes in ``region``."""
    session = session or _session()
    value = session.client("ssm", region_name=region).get_parameter(Name=GPU_AMI_PARAMETER)["Parameter"]["Value"]
    return describe(region, value, session)


def describe(region: str, ami_id: str, session: Any = None) -> Ami:
    """``ami_id``'s name and creation date in ``region`` (None when the region has no such AMI)."""
    from botocore.exceptions import ClientError

    session = session or _session()
    try:
        images = session.client("ec2", region_name=region).describe_images(ImageIds=[ami_id])["Images"]
    except ClientError as e:
        if e.response["Error"]["Code"] in ("InvalidAMIID.NotFound", "InvalidAMIID.Malformed"):
            images = []
        else:
            raise
    if not images:
        return Ami(ami_id, None, None)
    return Ami(ami_id, images[0].get("Name"), images[0].get("CreationDate"))


def _session() -> Any:
    import boto3

    return boto3.session.Session()


_PINNED = re.compile(r"^(?P<indent>\s+)amiId:\s*(?P<value>\S+)\s*$", re.MULTILINE)


def pinned(stack_file: Path) -> str | None:
    """The AMI the stack file pins (``llm-serving:ec2`` -> ``amiId``), if any."""
    import yaml

    document = yaml.safe_load(stack_file.read_text()) or {}
    section = (document.get("config") or {}).get(AMI_KEY) or {}
    value = section.get("amiId") if isinstance(section, dict) else None
    return value if isinstance(value, str) else None


def pin(stack_file: Path, ami_id: str) -> None:
    """Write ``ami_id`` as the stack's pin, keeping the file's comments and layout. The file
    must already hold one ``amiId:`` line under ``llm-serving:ec2:`` (the committed stack
    files do); anything else is left to `pulumi config set --path`."""
    text = stack_file.read_text()
    block = re.search(rf"^  {re.escape(AMI_KEY)}:\n(?:(?:    .*|\s*#.*)?\n)*", text, re.MULTILINE)
    matches = list(_PINNED.finditer(block.group(0))) if block else []
    if block is None or len(matches) != 1:
        raise ValueError(
            f"{stack_file.name} has no single `amiId:` line under {AMI_KEY}: run "
            f"`pulumi config set --path '{AMI_KEY}.amiId' {ami_id}` instead"
        )
    line = matches[0]
    start, end = block.start() + line.start("value"), block.start() + line.end("value")
    stack_file.write_text(text[:start] + ami_id + text[end:])
