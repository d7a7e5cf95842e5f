"""Engine images from AWS's own tables: the URIs AWS's SDK gives, offline."""

from __future__ import annotations

import pytest

from infra import images
from infra.images import AwsImage, ImageNotAvailableError
from model_server.engines import TGI, VLLM

# What sagemaker-core 2.27.0's image_uris.retrieve(framework, region=..., version=...,
# instance_type="ml.g5.2xlarge") answered, read from the installed SDK on 2026-12-01.
AWS_SDK_ANSWERS = {
    ("huggingface-llm", "3.3.6", "us-east-1"): "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
    "huggingface-pytorch-tgi-inference:2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04",
    ("huggingface-llm", "3.3.6", "ap-east-1"): "871362719292.dkr.ecr.ap-east-1.amazonaws.com/"
    "huggingface-pytorch-tgi-inference:2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04",
    ("huggingface-llm", "3.3.6", "cn-north-1"): "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/"
    "huggingface-pytorch-tgi-inference:2.7.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04",
    ("vllm", "0.30.0", "us-east-1"): "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
    "vllm:0.30.0-gpu-py312-cu130-ubuntu24.04-sagemaker",
    ("vllm", "0.30.0", "il-central-1"): "780543022126.dkr.ecr.il-central-1.amazonaws.com/"
    "vllm:0.30.0-gpu-py312-cu130-ubuntu24.04-sagemaker",
}


@pytest.mark.parametrize(("framework", "version", "region"), list(AWS_SDK_ANSWERS))
def test_uris_are_the_ones_awss_sdk_gives(framework: str, version: str, region: str) -> None:
    assert images.uri(AwsImage(framework, version), region) == AWS_SDK_ANSWERS[(framework, version, region)]


def test_the_engines_pin_images_aws_publishes() -> None:
    for engine in (TGI, VLLM):
        framework, version = engine.aws_image
        assert version in images.versions(framework)


def test_a_region_without_the_image_is_said() -> None:
    with pytest.raises(ImageNotAvailableError, match=r"AWS publishes no vllm 0\.30\.0 image in cn-north-1"):
        images.uri(AwsImage("vllm", "0.30.0"), "cn-north-1")


def test_a_version_aws_does_not_publish_is_said_with_the_ones_it_does() -> None:
    with pytest.raises(ImageNotAvailableError, match=r"no huggingface-llm image 3.3.7 \(versions: .*3.3.6"):
        images.uri(AwsImage("huggingface-llm", "3.3.7"), "us-east-1")


def test_a_version_alias_resolves() -> None:
    assert (
        images.uri(AwsImage("huggingface-llm", "3.3"), "us-east-1")
        == AWS_SDK_ANSWERS[("huggingface-llm", "3.3.6", "us-east-1")]
    )
