"""Each config rule, once passing and once failing, with where the error points."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, StackConfig, parse_stack_config
from tests.helpers import model, stack_config


def errors(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_stack_config(config)
    return e.value.lines


def test_minimal_config_is_valid_with_documented_defaults() -> None:
    config = parse_stack_config(stack_config())
    chat = config.models["chat"]
    assert (chat.engine, chat.backend, chat.quantization.value) == ("tgi", "ec2", "none")
    assert (chat.capacity.min, chat.capacity.max) == (0, 2)
    assert config.network.availability_zones == 2
    assert config.load_balancer.internal is True
    assert config.production is False


def test_every_field_is_documented() -> None:
    from pydantic import BaseModel

    import infra.config as schema

    sections = [
        v
        for v in vars(schema).values()
        if isinstance(v, type) and issubclass(v, schema.Section) and v is not schema.Section
    ]
    assert len(sections) >= 9
    undocumented = [
        f"{cls.__name__}.{name}"
        for cls in sections
        for name, field in cls.model_fields.items()
        if not field.description
    ]
    assert undocumented == []
    assert issubclass(StackConfig, BaseModel)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (stack_config(modles={}), "llm-serving:modles: unknown key: did you mean models?"),
        (
            stack_config(models={"chat": model(capacty={"min": 1})}),
            "llm-serving:models.chat.capacty: unknown key: did you mean capacity?",
        ),
        (
            stack_config(models={"chat": model(capacity={"mx": 1})}),
            "llm-serving:models.chat.capacity.mx: unknown key: did you mean max?",
        ),
        (stack_config(network={"cidrr": "10.0.0.0/16"}), "llm-serving:network.cidrr: unknown key: did you mean cidr?"),
    ],
)
def test_rejects_unknown_keys_with_a_suggestion(config: dict[str, Any], expected: str) -> None:
    [line] = errors(config)
    assert line.startswith(expected)


def test_unknown_key_lists_the_valid_keys() -> None:
    [line] = errors(stack_config(alerts={"pager": "x"}))
    assert line == "llm-serving:alerts.pager: unknown key: valid keys here: emails"


def test_rejects_capacity_min_above_max() -> None:
    assert errors(stack_config(models={"chat": model(capacity={"min": 3, "max": 2})})) == [
        "llm-serving:models.chat.capacity.max: must be at least min (3)"
    ]


def test_accepts_capacity_min_equal_to_max() -> None:
    config = parse_stack_config(stack_config(models={"chat": model(capacity={"min": 2, "max": 2})}))
    assert config.models["chat"].capacity.min == 2


def test_rejects_on_demand_base_above_max() -> None:
    assert errors(stack_config(models={"chat": model(capacity={"onDemandBase": 3, "max": 2})})) == [
        "llm-serving:models.chat.capacity.onDemandBase: must be at most max (2)"
    ]


def test_accepts_on_demand_base_equal_to_max() -> None:
    config = parse_stack_config(stack_config(models={"chat": model(capacity={"onDemandBase": 2, "max": 2})}))
    assert config.models["chat"].capacity.on_demand_base == 2


def test_rejects_max_input_tokens_not_below_max_total_tokens() -> None:
    [line] = errors(stack_config(models={"chat": model(maxInputTokens=8192, maxTotalTokens=8192)}))
    assert line.startswith("llm-serving:models.chat.maxInputTokens: must be less than maxTotalTokens (8192)")


def test_accepts_max_input_tokens_below_max_total_tokens() -> None:
    config = parse_stack_config(stack_config(models={"chat": model(maxInputTokens=8191, maxTotalTokens=8192)}))
    assert config.models["chat"].max_input_tokens == 8191


def test_rejects_a_single_availability_zone() -> None:
    [line] = errors(stack_config(network={"availabilityZones": 1}))
    assert line == "llm-serving:network.availabilityZones: input should be greater than or equal to 2"


def test_accepts_three_availability_zones() -> None:
    assert parse_stack_config(stack_config(network={"availabilityZones": 3})).network.availability_zones == 3


@pytest.mark.parametrize("name", ["Chat", "chat_1", "1chat", "a", "x" * 17, "chat-"])
def test_rejects_model_names_unusable_in_aws_names(name: str) -> None:
    [line] = errors(stack_config(models={name: model()}))
    assert line.startswith(f"llm-serving:models.{name}: model names must be 2 to 16 characters")


@pytest.mark.parametrize("name", ["chat", "llama-8b", "c2", "x" * 16])
def test_accepts_model_names_usable_in_aws_names(name: str) -> None:
    assert name in parse_stack_config(stack_config(models={name: model()})).models


def test_rejects_an_instance_type_typo_with_a_suggestion() -> None:
    assert errors(stack_config(models={"chat": model(instanceTypes=["g6.xlarge", "g5.xlarg"])})) == [
        "llm-serving:models.chat.instanceTypes[1]: g5.xlarg is not a GPU instance type in the "
        "catalog; did you mean g5.xlarge?"
    ]


def test_rejects_a_non_gpu_instance_type() -> None:
    [line] = errors(stack_config(models={"chat": model(instanceTypes=["m5.large", "g5.xlarge"])}))
    assert line.startswith("llm-serving:models.chat.instanceTypes[0]: m5.large is not a GPU instance type;")
    assert "g5" in line and "did you mean" not in line


def test_rejects_a_70b_model_on_a_24_gb_gpu_with_the_arithmetic() -> None:
    [line] = errors(
        stack_config(
            models={"chat": model(parametersBillions=70, instanceTypes=["g5.xlarge"], capacity={"onDemandBase": 2})}
        )
    )
    assert line.startswith(
        "llm-serving:models.chat.instanceTypes[0]: g5.xlarge cannot hold the weights and one request of "
        "maxTotalTokens: per GPU, 70B parameters x 2 bytes (none) = 140 GB, plus a KV cache of 8192 tokens x "
        "0.131 MB = 1.07 GB, is more than the 21.6 GB usable (90% of 24 GB A10G); types with A10G or "
        "cheaper GPUs that fit: g6.48xlarge (8 x L4, $13.35/h), g5.48xlarge (8 x A10G, $16.288/h)"
    )
    assert line.endswith(", or quantize")


def test_accepts_a_70b_model_quantized_to_4_bits_on_four_l40s() -> None:
    config = parse_stack_config(
        stack_config(
            models={
                "chat": model(parametersBillions=70, quantization="awq", instanceTypes=["g6e.12xlarge", "g6e.24xlarge"])
            }
        )
    )
    assert config.models["chat"].engine_settings("chat").num_shards == 4


def test_rejects_fp8_on_a_gpu_without_fp8() -> None:
    [line] = errors(stack_config(models={"chat": model(quantization="fp8", instanceTypes=["g5.xlarge", "g6.xlarge"])}))
    assert line.startswith("llm-serving:models.chat.instanceTypes[0]: g5.xlarge has A10G GPUs, which lack FP8")


def test_accepts_fp8_on_l4() -> None:
    assert (
        parse_stack_config(
            stack_config(models={"chat": model(quantization="fp8", instanceTypes=["g6.xlarge", "g6e.xlarge"])})
        )
        .models["chat"]
        .quantization.value
        == "fp8"
    )


def test_rejects_instance_types_with_different_gpu_counts() -> None:
    [line] = errors(stack_config(models={"chat": model(instanceTypes=["g5.xlarge", "g5.12xlarge"])}))
    assert line.startswith("llm-serving:models.chat.instanceTypes: must all have the same number of GPUs")


def test_rejects_a_quantization_the_engine_lacks() -> None:
    [line] = errors(stack_config(models={"chat": model(engine="vllm", quantization="bitsandbytes")}))
    assert line.startswith("llm-serving:models.chat.quantization: 'bitsandbytes' is not supported by vllm")


def test_an_eks_model_needs_the_stacks_eks_section() -> None:
    [line] = errors(stack_config(models={"chat": model(backend="eks")}))
    assert line.startswith("llm-serving:eks: required: chat run on EKS")


def test_rejects_an_unknown_backend() -> None:
    [line] = errors(stack_config(models={"chat": model(backend="lambda")}))
    assert line.startswith("llm-serving:models.chat.backend: input should be 'ec2', 'sagemaker' or 'eks'")


def test_rejects_an_unpinned_revision() -> None:
    assert errors(stack_config(models={"chat": model(revision="main")})) == [
        "llm-serving:models.chat.revision: 'main' must be a 40-character commit hash of the model repository (pin it)"
    ]


def test_rejects_a_missing_required_key() -> None:
    m = model()
    del m["revision"]
    assert errors(stack_config(models={"chat": m})) == [
        "llm-serving:models.chat.revision: required: this key has no default; add it"
    ]


def test_rejects_an_empty_model_map() -> None:
    [line] = errors(stack_config(models={}))
    assert line.startswith("llm-serving:models:")


PROD = {
    "production": True,
    "network": {"natGateways": "perAz"},
    "loadBalancer": {"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"},
    "alerts": {"emails": ["oncall@example.com"]},
}


def test_accepts_a_production_stack_with_every_safeguard() -> None:
    assert parse_stack_config(stack_config(**PROD)).production is True


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"network": {"natGateways": "single"}}, "llm-serving:network.natGateways"),
        ({"loadBalancer": {}}, "llm-serving:loadBalancer.certificateArn"),
        ({"alerts": {"emails": []}}, "llm-serving:alerts.emails"),
    ],
)
def test_rejects_a_production_stack_missing_a_safeguard(change: dict[str, Any], key: str) -> None:
    [line] = errors(stack_config(**{**PROD, **change}))
    assert line.startswith(f"{key}: production stacks")


def test_a_non_production_stack_may_use_one_nat_and_plain_http() -> None:
    config = parse_stack_config(stack_config(network={"natGateways": "single"}))
    assert config.load_balancer.certificate_arn is None


EXISTING = {"vpcId": "vpc-0abc1234", "privateSubnetIds": ["subnet-0abc1234", "subnet-0abc1235"]}


def test_accepts_an_existing_vpc() -> None:
    config = parse_stack_config(stack_config(network={"existing": EXISTING}))
    assert config.network.existing is not None
    assert config.network.existing.vpc_id == "vpc-0abc1234"


def test_rejects_an_existing_vpc_combined_with_new_vpc_settings() -> None:
    assert errors(stack_config(network={"existing": EXISTING, "cidr": "10.1.0.0/16"})) == [
        "llm-serving:network.cidr: cannot be set together with network.existing; remove it or remove existing"
    ]


def test_rejects_an_existing_vpc_with_one_subnet() -> None:
    [line] = errors(stack_config(network={"existing": {**EXISTING, "privateSubnetIds": ["subnet-0abc1234"]}}))
    assert line.startswith("llm-serving:network.existing.privateSubnetIds:")


NO_NAT_ENDPOINTS = ["ecr.api", "ecr.dkr", "sqs", "logs", "autoscaling"]


def test_no_nat_is_refused_while_weights_or_images_come_from_the_internet() -> None:
    lines = errors(
        stack_config(
            network={"natGateways": "none", "interfaceEndpoints": ["sqs"]},
            workerImage="ghcr.io/acme/worker:1",
            models={"chat": model(image="vllm/vllm-openai:v0.11.0")},
        )
    )
    assert [line.split(": ")[0] for line in lines] == [
        "llm-serving:models.chat.weights.source",
        "llm-serving:models.chat.image",
        "llm-serving:workerImage",
        "llm-serving:network.interfaceEndpoints",
        "llm-serving:network.interfaceEndpoints",
        "llm-serving:network.interfaceEndpoints",
        "llm-serving:network.interfaceEndpoints",
    ]
    assert lines[3].endswith("add 'ecr.api' (the instances log in to ECR to pull the engine and worker images)")


def test_no_nat_is_accepted_with_staged_weights_awss_images_and_the_endpoints() -> None:
    config = parse_stack_config(
        stack_config(
            network={"natGateways": "none", "interfaceEndpoints": NO_NAT_ENDPOINTS},
            models={"chat": model(weights={"source": "s3"})},
        ),
        region="us-east-1",
    )
    assert config.network.nat_gateways == "none"
    assert config.models["chat"].engine_image("us-east-1").startswith("763104351884.dkr.ecr.us-east-1.")


def test_rejects_a_cidr_too_large() -> None:
    [line] = errors(stack_config(network={"cidr": "10.0.0.0/8"}))
    assert line.startswith("llm-serving:network.cidr: 10.0.0.0/8 must be a /16 to /22")


def test_rejects_a_public_load_balancer_without_an_allow_list() -> None:
    [line] = errors(stack_config(loadBalancer={"internal": False}))
    assert line.startswith("llm-serving:loadBalancer.allowedCidrs: a public load balancer needs")


def test_accepts_a_public_load_balancer_with_an_allow_list() -> None:
    config = parse_stack_config(stack_config(loadBalancer={"internal": False, "allowedCidrs": ["203.0.113.0/24"]}))
    assert str(config.load_balancer.allowed_cidrs[0]) == "203.0.113.0/24"


def test_rejects_a_queue_with_one_receive_before_dead_letter() -> None:
    [line] = errors(stack_config(models={"chat": model(queue={"maxReceiveCount": 1})}))
    assert line == "llm-serving:models.chat.queue.maxReceiveCount: input should be greater than or equal to 2"


def test_rejects_queue_retention_not_below_dead_letter_retention() -> None:
    [line] = errors(stack_config(models={"chat": model(queue={"retentionSeconds": 1209600})}))
    assert line.startswith("llm-serving:models.chat.queue.retentionSeconds: input should be less than 1209600")


def test_reports_every_bad_key_at_once() -> None:
    lines = errors(
        stack_config(
            modles={},
            models={
                "chat": model(capacity={"min": 3, "max": 2}),
                "code": model(instanceTypes=["m5.large"]),
            },
        )
    )
    assert [line.split(":")[1] for line in lines] == [
        "models.chat.capacity.max",
        "models.code.instanceTypes[0]",
        "models.code.instanceTypes",
        "modles",
    ]
