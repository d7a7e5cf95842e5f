"""The rules of `backend: sagemaker` models, each once accepted and once refused with the key
it points at; the SageMaker catalog; and the values the SageMaker backend reads."""

from __future__ import annotations

from typing import Any

import pytest

from infra import catalog
from infra.config import (
    ConfigError,
    ModelConfig,
    StackConfig,
    parse_stack_config,
    sagemaker_download_timeout_seconds,
    sagemaker_endpoint_name,
    sagemaker_startup_timeout_seconds,
)
from tests.helpers import model, stack_config

REGION = "us-east-1"


def sm_model(**fields: Any) -> dict[str, Any]:
    """A valid SageMaker model: one ml. type, at least one instance."""
    return model(**{"backend": "sagemaker", "instanceTypes": ["ml.g6.xlarge"], "capacity": {"min": 1}, **fields})


def parse(*, region: str | None = REGION, stack: str | None = "dev", **sections: Any) -> StackConfig:
    return parse_stack_config(stack_config(**sections), region, stack)


def summarize(region: str | None = REGION, stack: str | None = "dev", **fields: Any) -> ModelConfig:
    return parse(models={"summarize": sm_model(**fields)}, region=region, stack=stack).models["summarize"]


def errors(*, region: str | None = REGION, stack: str | None = "dev", **sections: Any) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse(region=region, stack=stack, **sections)
    return e.value.lines


def model_errors(region: str | None = REGION, stack: str | None = "dev", **fields: Any) -> list[str]:
    return errors(models={"summarize": sm_model(**fields)}, region=region, stack=stack)


# --------------------------------------------------------------------------- catalog


def test_every_sagemaker_type_is_a_real_time_hosting_type_of_aws() -> None:
    # The instance types CloudFormation's AWS::SageMaker::EndpointConfig accepts for a
    # production variant (the schema cfn-lint ships).
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", "AWS::SageMaker::EndpointConfig").schema
    hosting = set(schema["definitions"]["ProductionVariant"]["properties"]["InstanceType"]["enum"])
    assert len(catalog.SAGEMAKER_CATALOG) == 32
    assert sorted(set(catalog.SAGEMAKER_CATALOG) - hosting) == []


def test_a_sagemaker_type_has_the_gpus_of_its_ec2_machine_and_local_nvme() -> None:
    t = catalog.lookup_sagemaker("ML.G6E.12XLARGE")
    assert (t.name, t.gpu.model, t.gpu_count, t.gpu_memory_gb) == ("ml.g6e.12xlarge", "L40S", 4, 192)
    assert t.hardware is catalog.CATALOG["g6e.12xlarge"]
    assert t.local_nvme is True
    assert t.hosting_usd_per_hour is None  # not recorded: no source read (docs/reference.md#sagemaker)


def test_every_sagemaker_type_has_local_nvme_so_no_kms_key_is_asked_for() -> None:
    # SageMaker refuses a KmsKeyId for types with local storage; the endpoint sets none, which
    # holds only while every type the config accepts has it (the policy rule checks the rest).
    from infra.policies import LOCAL_NVME_FAMILIES

    assert all(t.local_nvme for t in catalog.SAGEMAKER_CATALOG.values())
    assert all(name.startswith(LOCAL_NVME_FAMILIES) for name in catalog.SAGEMAKER_CATALOG)


def test_an_ec2_name_on_sagemaker_is_told_the_sagemaker_name() -> None:
    assert model_errors(instanceTypes=["g5.2xlarge"]) == [
        "llm-serving:models.summarize.instanceTypes[0]: g5.2xlarge is an EC2 instance type; on SageMaker use "
        "ml.g5.2xlarge"
    ]


def test_a_sagemaker_type_typo_gets_a_suggestion() -> None:
    assert model_errors(instanceTypes=["ml.g6.xlarg"]) == [
        "llm-serving:models.summarize.instanceTypes[0]: ml.g6.xlarg is not a SageMaker GPU hosting type in the "
        "catalog; did you mean ml.g6.xlarge?"
    ]


def test_a_cpu_sagemaker_type_is_refused_naming_the_gpu_families() -> None:
    [line] = model_errors(instanceTypes=["ml.m5.xlarge"])
    assert line == (
        "llm-serving:models.summarize.instanceTypes[0]: ml.m5.xlarge is not a GPU instance type; models need an "
        "NVIDIA GPU family: ml.g4dn, ml.g5, ml.g6, ml.g6e, ml.p4d, ml.p5"
    )


def test_sagemaker_types_are_matched_case_insensitively() -> None:
    assert summarize(instanceTypes=["ML.G6.XLarge"]).instance_types == ["ml.g6.xlarge"]


def test_a_model_too_large_for_a_sagemaker_type_is_told_sagemaker_types_that_fit() -> None:
    [line] = model_errors(parametersBillions=70, instanceTypes=["ml.g5.xlarge"])
    assert line.startswith(
        "llm-serving:models.summarize.instanceTypes[0]: ml.g5.xlarge cannot hold the weights and one request of "
        "maxTotalTokens: per GPU, 70B parameters x 2 bytes (none) = 140 GB"
    )
    # Ranked by the machine's price; SageMaker's own price is not recorded, so none is shown.
    assert "types with A10G or cheaper GPUs that fit: ml.g6.48xlarge (8 x L4), ml.g5.48xlarge (8 x A10G)" in line


# ---------------------------------------------------------------------- instance types


def test_one_instance_type_is_accepted_without_spot_pools() -> None:
    # On EC2, one type with spot capacity is refused (each type is a spot pool).
    assert summarize().sagemaker_instance is catalog.SAGEMAKER_CATALOG["ml.g6.xlarge"]


def test_more_than_one_instance_type_is_refused() -> None:
    assert model_errors(instanceTypes=["ml.g6.xlarge", "ml.g5.xlarge"]) == [
        "llm-serving:models.summarize.instanceTypes: 2 types, but a SageMaker model runs one production variant "
        "of one instance type (pulumi-aws has no instance pools): list one"
    ]


# --------------------------------------------------------------------------- capacity


def test_capacity_min_of_one_is_accepted() -> None:
    capacity = summarize(capacity={"min": 1, "max": 3}).capacity
    assert (capacity.min, capacity.max) == (1, 3)


@pytest.mark.parametrize(("capacity", "default"), [({"max": 2}, " (the default)"), ({"min": 0}, "")])
def test_capacity_min_of_zero_is_refused_even_by_default(capacity: dict[str, int], default: str) -> None:
    assert model_errors(capacity=capacity) == [
        f"llm-serving:models.summarize.capacity.min: is 0{default}, but a SageMaker real-time endpoint cannot scale "
        "to zero (only with inference components, which this stack does not use): set capacity.min to 1 or more"
    ]


def test_capacity_max_below_min_is_refused() -> None:
    assert model_errors(capacity={"min": 3, "max": 2}) == [
        "llm-serving:models.summarize.capacity.max: must be at least min (3)"
    ]


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("onDemandBase", "SageMaker real-time endpoints have no spot: every instance is on-demand"),
        ("onDemandFallbackMax", "SageMaker real-time endpoints have no spot to fall back from"),
        ("warmPool", "SageMaker real-time endpoints have no warm pools"),
    ],
)
def test_spot_and_warm_pool_keys_are_refused_when_set(key: str, reason: str) -> None:
    assert model_errors(capacity={"min": 1, key: 0}) == [
        f"llm-serving:models.summarize.capacity.{key}: {reason}: remove it"
    ]


# ---------------------------------------------------------------------------- weights


def test_weights_come_from_s3_by_default_in_every_stack() -> None:
    config = parse(models={"summarize": sm_model(), "chat": model()})
    assert (config.production, config.weights_source("summarize"), config.weights_source("chat")) == (
        False,
        "s3",
        "hub",
    )


def test_weights_from_the_hub_are_refused() -> None:
    assert model_errors(weights={"source": "hub"}) == [
        "llm-serving:models.summarize.weights.source: SageMaker endpoints run network-isolated, so the weights "
        "come from the stack's bucket: set 's3' (or remove the key) and stage them with `llm-serving weights stage`"
    ]


# ------------------------------------------------------------------ start-up and timeouts


def test_a_health_check_grace_of_3600_is_the_start_up_timeout() -> None:
    assert summarize(healthCheckGraceSeconds=3600).sagemaker_startup_timeout_seconds == 3600


def test_a_health_check_grace_above_3600_is_refused() -> None:
    assert model_errors(healthCheckGraceSeconds=3601) == [
        "llm-serving:models.summarize.healthCheckGraceSeconds: 3601 is SageMaker's container start-up health-check "
        "timeout here, which AWS allows 60 to 3600 s (ContainerStartupHealthCheckTimeoutInSeconds; "
        "docs/reference.md#sagemaker): lower it to 3600 or less"
    ]


def test_timeouts_are_estimated_from_the_weights_within_aws_range() -> None:
    summarize_8b = summarize()  # 8B in BF16: 16 GB
    # 2 x 16 GB x 10 s/GB; the EC2 estimate: 90 boot + 180 ECR pull + 16 x (2 + 1) + 60 warm-up.
    assert summarize_8b.sagemaker_download_timeout_seconds == 320
    assert summarize_8b.sagemaker_startup_timeout_seconds == 378
    assert (sagemaker_download_timeout_seconds(0.5), sagemaker_download_timeout_seconds(810)) == (60, 3600)
    assert sagemaker_startup_timeout_seconds(2000, 30) == 3600


# --------------------------------------------------------------------------- schedule


def test_a_schedule_is_accepted_on_sagemaker() -> None:
    schedule = {"offCron": "0 19 * * 1-5", "onCron": "0 7 * * 1-5"}
    assert summarize(schedule=schedule).schedule is not None


def test_a_schedule_with_a_bad_cron_is_refused_on_sagemaker() -> None:
    [line] = model_errors(schedule={"offCron": "0 25 * * *", "onCron": "0 7 * * 1-5"})
    assert line.startswith("llm-serving:models.summarize.schedule.offCron: ")


# ---------------------------------------------------------------------- engine images


def test_vllm_is_accepted_where_aws_publishes_its_image() -> None:
    m = summarize(engine="vllm")
    assert m.engine_image(REGION) == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/vllm:0.30.0-gpu-py312-cu130-ubuntu24.04-sagemaker"
    )


def test_vllm_is_refused_where_aws_publishes_no_vllm_image_naming_tgi() -> None:
    # GovCloud (us-gov-west-1) has AWS's TGI image but no vLLM one; every commercial region
    # AWS's tables list has both.
    assert model_errors(region="us-gov-west-1", engine="vllm") == [
        "llm-serving:models.summarize.engine: AWS publishes no vllm 0.30.0 image in us-gov-west-1's ECR, where the "
        "stack's SageMaker models pull their image from: use engine: tgi (AWS publishes huggingface-llm 3.3.6 "
        "there), or set image: to a SageMaker-compatible container of your own in the region's ECR"
    ]


def test_tgi_is_refused_where_aws_publishes_no_image_and_ghcr_is_unusable() -> None:
    # A region AWS's tables do not list (a new one).
    assert model_errors(region="eu-central-9") == [
        "llm-serving:models.summarize.engine: AWS publishes no huggingface-llm 3.3.6 image in eu-central-9's ECR, "
        "where the stack's SageMaker models pull their image from: or set image: to a SageMaker-compatible "
        "container of your own in the region's ECR (the public ghcr.io/huggingface/text-generation-inference:3.3.7 "
        "is outside ECR)"
    ]


def test_an_image_of_your_own_in_ecr_is_accepted_in_any_region() -> None:
    image = "123456789012.dkr.ecr.eu-central-9.amazonaws.com/tgi:3.3.7-sagemaker"
    assert summarize(region="eu-central-9", image=image).image == image


def test_an_image_outside_ecr_is_refused() -> None:
    assert model_errors(image="ghcr.io/huggingface/text-generation-inference:3.3.7") == [
        "llm-serving:models.summarize.image: ghcr.io/huggingface/text-generation-inference:3.3.7 is not in Amazon "
        "ECR, and the stack's SageMaker models pull their image from ECR: push it to your ECR in the stack's region "
        "and name that copy"
    ]


def test_an_image_in_another_regions_ecr_is_refused() -> None:
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tgi:3.3.7-sagemaker"
    assert model_errors(image=image) == [
        f"llm-serving:models.summarize.image: {image} is in eu-west-1's ECR; SageMaker needs the image in the "
        "endpoint's region (us-east-1): push a copy there and name it"
    ]


# ----------------------------------------------------------------------- endpoint name


def test_an_endpoint_name_of_63_characters_is_accepted() -> None:
    stack = "s" * 32  # llm- (4) + 32 + - (1) + 16 + -g6-xlarge (10) = 63
    name = "m" * 16
    config = parse(models={name: sm_model()}, stack=stack)
    assert len(sagemaker_endpoint_name(stack, name, config.models[name].instance_types[0])) == 63
    assert name in config.models


def test_an_endpoint_name_aws_refuses_is_refused_naming_the_model() -> None:
    assert errors(models={"summarize": sm_model()}, stack="dev_eu") == [
        "llm-serving:models.summarize: the SageMaker endpoint's name 'llm-dev_eu-summarize-g6-xlarge' (30 "
        "characters) is one "
        "AWS refuses: at most 63 letters, digits and hyphens (EndpointName; docs/reference.md#sagemaker); rename "
        "the stack (`pulumi stack rename`) to letters, digits and hyphens, or shorten the model's name"
    ]
    [line] = errors(models={"m" * 16: sm_model()}, stack="s" * 33)
    assert line.startswith(f"llm-serving:models.{'m' * 16}: the SageMaker endpoint's name ")
    assert "(64 characters)" in line


def test_the_endpoint_name_is_the_programs_resource_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi

    from infra import program

    monkeypatch.setattr(pulumi, "get_stack", lambda: "prod")
    assert (
        sagemaker_endpoint_name("prod", "summarize", "ml.g6e.xlarge") == program.name_prefix("summarize") + "g6e-xlarge"
    )


def test_an_ec2_model_is_not_held_to_the_endpoint_name() -> None:
    assert parse(stack="dev_eu").models["chat"].backend == "ec2"


# ------------------------------------------------------------------------ ec2.amiId


def test_a_stack_of_sagemaker_models_needs_no_ami() -> None:
    config = parse_stack_config({**stack_config(models={"summarize": sm_model()}), "ec2": {}}, REGION, "dev")
    assert config.ec2.ami_id is None


def test_a_stack_with_an_ec2_model_still_needs_its_ami() -> None:
    raw = {**stack_config(models={"summarize": sm_model(), "chat": model()}), "ec2": {}}
    with pytest.raises(ConfigError) as e:
        parse_stack_config(raw, REGION, "dev")
    [line] = e.value.lines
    assert line.startswith("llm-serving:ec2.amiId: required: pin the GPU AMI of chat ")


# ---------------------------------------------------------------------- sagemaker block


def test_the_sagemaker_block_has_documented_defaults() -> None:
    m = summarize()
    s = m.sagemaker_settings
    d = s.deployment
    assert (d.strategy, d.step_percent, d.wait_seconds, d.bake_seconds, d.max_seconds) == (
        "allAtOnce",
        25,
        300,
        0,
        7200,
    )
    assert (s.worker_tasks, s.target_concurrent_requests, s.inference_ami_version) == (1, None, None)
    assert m.sagemaker_target_concurrent_requests == m.max_concurrent_requests == 64
    assert m.sagemaker_inference_ami() == "al2-ami-sagemaker-inference-gpu-3-1"
    assert (m.gpu_count, m.engine_settings("summarize").num_shards) == (1, 1)


def test_the_sagemaker_block_is_refused_on_ec2() -> None:
    assert errors(models={"chat": model(sagemaker={"workerTasks": 2})}) == [
        "llm-serving:models.chat.sagemaker: only for backend: sagemaker; remove it, or set backend: sagemaker"
    ]


def test_a_target_of_concurrent_requests_is_used_when_set() -> None:
    assert summarize(sagemaker={"targetConcurrentRequests": 8}).sagemaker_target_concurrent_requests == 8


def test_a_target_of_zero_concurrent_requests_is_refused() -> None:
    assert model_errors(sagemaker={"targetConcurrentRequests": 0}) == [
        "llm-serving:models.summarize.sagemaker.targetConcurrentRequests: input should be greater than 0"
    ]


def test_vllm_gets_the_ami_of_its_cuda_13_image() -> None:
    assert summarize(engine="vllm").sagemaker_inference_ami() == "al2023-ami-sagemaker-inference-gpu-4-1"


def test_an_inference_ami_of_aws_is_accepted() -> None:
    ami = "al2023-ami-sagemaker-inference-gpu-4-1"
    assert summarize(sagemaker={"inferenceAmiVersion": ami}).sagemaker_inference_ami() == ami


def test_an_inference_ami_aws_does_not_offer_for_gpus_is_refused() -> None:
    [line] = model_errors(sagemaker={"inferenceAmiVersion": "al2-ami-sagemaker-inference-neuron-2"})
    assert line.startswith(
        "llm-serving:models.summarize.sagemaker.inferenceAmiVersion: input should be "
        "'al2-ami-sagemaker-inference-gpu-2', "
    )


def test_the_inference_amis_are_aws_gpu_amis() -> None:
    import gzip
    import json
    from pathlib import Path
    from typing import get_args

    import botocore

    from infra.config import INFERENCE_AMI_CUDA, InferenceAmi

    service = Path(botocore.__file__).parent / "data" / "sagemaker" / "2017-07-24" / "service-2.json.gz"
    shapes = json.loads(gzip.decompress(service.read_bytes()))["shapes"]
    offered = set(shapes["ProductionVariantInferenceAmiVersion"]["enum"])
    assert offered - set(get_args(InferenceAmi)) == {"al2-ami-sagemaker-inference-neuron-2"}
    assert set(INFERENCE_AMI_CUDA) == set(get_args(InferenceAmi))


def test_two_worker_tasks_are_accepted_in_production() -> None:
    config = parse(models={"summarize": sm_model(sagemaker={"workerTasks": 2})}, **PROD)
    assert config.models["summarize"].sagemaker_settings.worker_tasks == 2


def test_one_worker_task_is_refused_in_production() -> None:
    assert errors(models={"summarize": sm_model()}, **PROD) == [
        "llm-serving:models.summarize.sagemaker.workerTasks: production stacks need at least 2 queue-worker "
        "tasks: with one, its failure or replacement stops the model's queue"
    ]


PROD = {
    "production": True,
    "network": {"natGateways": "perAz"},
    "loadBalancer": {"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"},
    "alerts": {"emails": ["oncall@example.com"]},
}


# ------------------------------------------------------------------------- deployment


@pytest.mark.parametrize(
    ("strategy", "percent"), [("canary", 1), ("canary", 50), ("linear", 10), ("linear", 50), ("rolling", 5)]
)
def test_step_sizes_within_aws_ranges_are_accepted(strategy: str, percent: int) -> None:
    deployment = {"strategy": strategy, "stepPercent": percent}
    m = summarize(capacity={"min": 2}, sagemaker={"deployment": deployment})
    assert m.sagemaker_settings.deployment.step_percent == percent


@pytest.mark.parametrize(
    ("strategy", "percent", "message"),
    [
        ("linear", 5, "5 is outside 10 to 50, what AWS allows for linear (docs/reference.md#sagemaker)"),
        ("rolling", 4, "4 is outside 5 to 50, what AWS allows for rolling (docs/reference.md#sagemaker)"),
        ("allAtOnce", 25, "allAtOnce shifts all the traffic in one step: remove it"),
    ],
)
def test_step_sizes_outside_aws_ranges_are_refused(strategy: str, percent: int, message: str) -> None:
    deployment = {"strategy": strategy, "stepPercent": percent, "maxSeconds": 28800}
    assert model_errors(capacity={"min": 2}, sagemaker={"deployment": deployment}) == [
        f"llm-serving:models.summarize.sagemaker.deployment.stepPercent: {message}"
    ]


def test_a_canary_above_half_the_fleet_is_refused_by_its_range() -> None:
    deployment = {"strategy": "canary", "stepPercent": 51}
    assert model_errors(capacity={"min": 2}, sagemaker={"deployment": deployment}) == [
        "llm-serving:models.summarize.sagemaker.deployment.stepPercent: input should be less than or equal to 50"
    ]


def test_a_canary_on_a_fleet_of_one_is_refused() -> None:
    assert model_errors(sagemaker={"deployment": {"strategy": "canary"}}) == [
        "llm-serving:models.summarize.sagemaker.deployment.strategy: canary moves at most half the fleet per step, "
        "which a fleet of one instance (capacity.min 1) cannot split: use allAtOnce, or set capacity.min to 2 or "
        "more"
    ]


def test_waits_and_time_limit_at_aws_bounds_are_accepted() -> None:
    deployment = {"waitSeconds": 3600, "bakeSeconds": 3600, "maxSeconds": 28800}
    assert summarize(sagemaker={"deployment": deployment}).sagemaker_settings.deployment.max_seconds == 28800


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("waitSeconds", 3601, "input should be less than or equal to 3600"),
        ("bakeSeconds", -1, "input should be greater than or equal to 0"),
        ("maxSeconds", 599, "input should be greater than or equal to 600"),
        ("maxSeconds", 28801, "input should be less than or equal to 28800"),
    ],
)
def test_waits_and_time_limit_outside_aws_ranges_are_refused(key: str, value: int, message: str) -> None:
    assert model_errors(sagemaker={"deployment": {key: value}}) == [
        f"llm-serving:models.summarize.sagemaker.deployment.{key}: {message}"
    ]


def test_a_time_limit_within_the_waits_is_refused() -> None:
    deployment = {"strategy": "linear", "stepPercent": 20, "waitSeconds": 600, "bakeSeconds": 600, "maxSeconds": 3600}
    assert model_errors(capacity={"min": 5}, sagemaker={"deployment": deployment}) == [
        "llm-serving:models.summarize.sagemaker.deployment.maxSeconds: must exceed the deployment's waits (5 steps "
        "x waitSeconds 600 + bakeSeconds 600 = 3600 s), as AWS requires; raise it or shorten the waits"
    ]


def test_a_bake_on_a_rolling_deployment_is_refused() -> None:
    deployment = {"strategy": "rolling", "bakeSeconds": 60}
    assert model_errors(capacity={"min": 4}, sagemaker={"deployment": deployment}) == [
        "llm-serving:models.summarize.sagemaker.deployment.bakeSeconds: rolling keeps no old fleet to bake "
        "(TerminationWaitInSeconds is blue/green's): remove it, or use waitSeconds, the baking time of each batch"
    ]


def test_an_unknown_strategy_is_refused() -> None:
    [line] = model_errors(sagemaker={"deployment": {"strategy": "blueGreen"}})
    assert line == (
        "llm-serving:models.summarize.sagemaker.deployment.strategy: input should be 'allAtOnce', 'canary', "
        "'linear' or 'rolling'"
    )


# ---------------------------------------------------------------------- all in one run


def test_every_sagemaker_problem_of_a_model_in_one_run() -> None:
    lines = model_errors(
        instanceTypes=["ml.g6.xlarge", "g5.xlarge"],
        capacity={"warmPool": 1},
        weights={"source": "hub"},
        healthCheckGraceSeconds=4000,
    )
    assert [line.split(": ")[0] for line in lines] == [
        "llm-serving:models.summarize.instanceTypes[1]",
        "llm-serving:models.summarize.instanceTypes",
        "llm-serving:models.summarize.capacity.min",
        "llm-serving:models.summarize.capacity.warmPool",
        "llm-serving:models.summarize.weights.source",
        "llm-serving:models.summarize.healthCheckGraceSeconds",
    ]


# ------------------------------------------------------------------- no NAT gateway

NO_NAT_ENDPOINTS = ["ecr.api", "ecr.dkr", "sqs", "logs", "autoscaling"]


def test_without_nat_a_sagemaker_models_worker_needs_the_sagemaker_endpoints() -> None:
    lines = errors(
        network={"natGateways": "none", "interfaceEndpoints": NO_NAT_ENDPOINTS},
        models={"summarize": sm_model()},
    )
    assert lines == [
        "llm-serving:network.interfaceEndpoints: network.natGateways is 'none': the instances have no internet: "
        "add 'sagemaker.runtime' (the queue worker invokes the model's endpoint)",
        "llm-serving:network.interfaceEndpoints: network.natGateways is 'none': the instances have no internet: "
        "add 'sagemaker.api' (the queue worker reads the endpoint's status and instances (DescribeEndpoint))",
    ]
    config = parse(
        network={
            "natGateways": "none",
            "interfaceEndpoints": [*NO_NAT_ENDPOINTS, "sagemaker.runtime", "sagemaker.api"],
        },
        models={"summarize": sm_model()},
    )
    assert config.models["summarize"].backend == "sagemaker"
