"""`llm-serving ami latest`: the newest GPU AMI beside the stack's pin, and moving the pin
deliberately. A real CLI process against moto's server (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from infra import ami
from tests.helpers import ROOT

REGION = "us-east-1"
PLACEHOLDER = "ami-0123456789abcdef0"


@pytest.fixture
def env(moto_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def newest(env: dict[str, str]) -> str:
    """An AMI AWS publishes as the newest, in its public parameter (which no account may
    write: put into moto's store as AWS's own data)."""
    from moto.ssm.models import Parameter, ssm_backends

    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    image = ec2.register_image(
        Name="Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) 20261120",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
    )["ImageId"]
    parameters = ssm_backends["123456789012"][REGION]._parameters
    parameters[ami.GPU_AMI_PARAMETER].append(
        Parameter(
            account_id="123456789012",
            name=ami.GPU_AMI_PARAMETER,
            value=image,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.now(UTC),
            version=len(parameters[ami.GPU_AMI_PARAMETER]) + 1,
            data_type="aws:ec2:image",
        )
    )
    return str(image)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    return tmp_path


def run(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "ami", "latest", "dev", "--project-dir", str(project), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_shows_the_newest_ami_beside_the_pin_and_how_to_move_it(
    project: Path, env: dict[str, str], newest: str
) -> None:
    result = run(project, env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"newest GPU AMI in us-east-1: {newest}  Deep Learning Base OSS Nvidia Driver GPU AMI")
    assert lines[1] == f"Pulumi.dev.yaml pins {PLACEHOLDER}, which is not an AMI in us-east-1"
    assert "llm-serving ami latest dev --write" in lines[2]
    assert ami.pinned(project / "Pulumi.dev.yaml") == PLACEHOLDER  # nothing written


def test_write_pins_the_newest_ami_keeping_the_files_comments(project: Path, env: dict[str, str], newest: str) -> None:
    before = (project / "Pulumi.dev.yaml").read_text()
    result = run(project, env, "--write")
    assert result.returncode == 0, result.stderr
    after = (project / "Pulumi.dev.yaml").read_text()
    assert ami.pinned(project / "Pulumi.dev.yaml") == newest
    assert after == before.replace(PLACEHOLDER, newest)
    again = run(project, env)
    assert "the pin is the newest: nothing to do" in again.stdout


def test_without_credentials_it_says_what_is_missing(project: Path, env: dict[str, str]) -> None:
    bare = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
    bare.update(AWS_SHARED_CREDENTIALS_FILE=str(project / "none"), AWS_CONFIG_FILE=str(project / "none"))
    result = run(project, bare)
    assert result.returncode == 2
    assert result.stderr.startswith("error: no AWS credentials")


def test_pin_refuses_a_file_without_one_ami_line(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.x.yaml"
    stack.write_text("config:\n  aws:region: us-east-1\n")
    with pytest.raises(ValueError, match=re.escape("pulumi config set --path 'llm-serving:ec2.amiId' ami-0abc")):
        ami.pin(stack, "ami-0abc")
