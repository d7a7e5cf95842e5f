"""What AWS accepts and what the fleet can serve: each limit the config checks, once
accepted and once refused with the key and the fix; and every problem in one run."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, cron_problem, parse_stack_config
from tests.helpers import model, stack_config


def errors(config: dict[str, Any], region: str | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_stack_config(config, region)
    return e.value.lines


# --------------------------------------------------------------------- interface endpoints


def test_two_spellings_of_one_endpoint_are_refused_before_they_make_one_urn_twice() -> None:
    assert errors(stack_config(network={"interfaceEndpoints": ["ecr.api", "ecr-api"]})) == [
        "llm-serving:network.interfaceEndpoints[1]: 'ecr-api' is not an AWS service with interface VPC "
        "endpoints: did you mean 'ecr.api'? use the name in com.amazonaws.<region>.<name>, e.g. 'sqs' or 'ecr.api'",
        "llm-serving:network.interfaceEndpoints[1]: 'ecr-api' names the same endpoint as interfaceEndpoints[0] "
        "('ecr.api'): list each service once",
    ]


def test_an_endpoint_service_that_does_not_exist_is_refused_with_a_suggestion() -> None:
    [line] = errors(stack_config(network={"interfaceEndpoints": ["sqs", "secretmanager"]}))
    assert line.startswith("llm-serving:network.interfaceEndpoints[1]: 'secretmanager' is not an AWS service")
    assert "did you mean 'secretsmanager'?" in line


def test_more_interface_endpoints_than_a_vpc_takes_are_refused() -> None:
    from infra.endpoint_services import INTERFACE_ENDPOINT_SERVICES

    [line] = errors(stack_config(network={"interfaceEndpoints": sorted(INTERFACE_ENDPOINT_SERVICES)[:51]}))
    assert line == "llm-serving:network.interfaceEndpoints: list should have at most 50 items after validation, not 51"


# ------------------------------------------------------------------------- load balancer


CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"


def test_a_certificate_from_another_region_is_refused() -> None:
    assert errors(stack_config(loadBalancer={"certificateArn": CERT}), region="eu-west-1") == [
        "llm-serving:loadBalancer.certificateArn: the certificate is in us-east-1, the stack in eu-west-1: a load "
        "balancer can only use an ACM certificate of its own region; request or import one in eu-west-1"
    ]


def test_a_certificate_of_the_stacks_region_is_accepted() -> None:
    config = parse_stack_config(stack_config(loadBalancer={"certificateArn": CERT}), "us-east-1")
    assert config.load_balancer.certificate_arn == CERT


def test_more_allowed_ranges_than_a_security_group_takes_are_refused() -> None:
    # HTTPS and the HTTP redirect: two rules per range; 60 inbound rules per group.
    cidrs = [f"203.0.{i}.0/24" for i in range(31)]
    [line] = errors(stack_config(loadBalancer={"internal": False, "allowedCidrs": cidrs, "certificateArn": CERT}))
    assert line.startswith("llm-serving:loadBalancer.allowedCidrs: 31 ranges x 2 ports = 62 inbound rules; a security")
    parse_stack_config(
        stack_config(loadBalancer={"internal": False, "allowedCidrs": cidrs[:30], "certificateArn": CERT})
    )


def test_a_range_listed_twice_is_refused() -> None:
    [line] = errors(
        stack_config(loadBalancer={"internal": False, "allowedCidrs": ["203.0.113.0/24", "203.0.113.0/24"]})
    )
    assert line.startswith("llm-serving:loadBalancer.allowedCidrs[1]: 203.0.113.0/24 is listed twice")


# --------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("0 25 * * *", "the hour field '25' holds 25, outside 0-23"),
        ("60 7 * * 1-5", "the minute field '60' holds 60, outside 0-59"),
        ("0 7 0 * *", "the day of month field '0' holds 0, outside 1-31"),
        ("0 19 * * MON-FRI", "the day of week field 'MON-FRI' holds 'MON'"),
        ("0 19 * * 5-1", "the day of week field '5-1' has the range 5-1, which runs backwards"),
        ("0 7 * * 1-5 2027", "has 6 fields; a cron has 5"),
        ("*/0 7 * * *", "has the step '0'"),
    ],
)
def test_cron_fields_auto_scaling_would_refuse_are_named(cron: str, problem: str) -> None:
    message = cron_problem(cron)
    assert message is not None and problem in message
    [line] = errors(stack_config(models={"chat": model(schedule={"offCron": cron, "onCron": "0 7 * * 1-5"})}))
    assert line.startswith("llm-serving:models.chat.schedule.offCron: ")


@pytest.mark.parametrize("cron", ["0 19 * * 1-5", "*/15 7-19 * * 1,3,5", "30 0 1 1,6,12 *", "0 0 * * 0"])
def test_well_formed_crons_are_accepted(cron: str) -> None:
    assert cron_problem(cron) is None


def test_off_and_on_at_the_same_time_are_refused() -> None:
    [line] = errors(stack_config(models={"chat": model(schedule={"offCron": "0 7 * * *", "onCron": "0  7 * * *"})}))
    assert line == "llm-serving:models.chat.schedule.onCron: is the same time as offCron: the model would never run"


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("US/Eastern", "'US/Eastern' is an alias; Auto Scaling takes canonical IANA names: use 'America/New_York'"),
        ("UTC", "'UTC' is an alias; Auto Scaling takes canonical IANA names: use 'Etc/UTC'"),
        ("Europe/Berln", "'Europe/Berln' is not an IANA time zone such as Europe/Berlin or Etc/UTC; did you mean"),
        ("../../etc/passwd", "is not an IANA time zone"),
    ],
)
def test_time_zones_must_be_canonical_iana_names(zone: str, message: str) -> None:
    schedule = {"offCron": "0 19 * * 1-5", "onCron": "0 7 * * 1-5", "timeZone": zone}
    [line] = errors(stack_config(models={"chat": model(schedule=schedule)}))
    assert line.startswith("llm-serving:models.chat.schedule.timeZone: ")
    assert message in line


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Etc/UTC", "America/New_York", "Etc/GMT+9", "Pacific/Tahiti"])
def test_canonical_time_zones_are_accepted(zone: str) -> None:
    schedule = {"offCron": "0 19 * * 1-5", "onCron": "0 7 * * 1-5", "timeZone": zone}
    config = parse_stack_config(stack_config(models={"chat": model(schedule=schedule)}))
    assert config.models["chat"].schedule is not None and config.models["chat"].schedule.time_zone == zone


# --------------------------------------------------------------------------- quotas


def test_more_models_than_one_dashboard_and_load_balancer_hold_are_refused() -> None:
    models = {f"m{i}": model() for i in range(63)}
    [line] = errors(stack_config(models=models))
    assert line.startswith("llm-serving:models: 63 models; a stack holds at most 62")
    assert len(parse_stack_config(stack_config(models=dict(list(models.items())[:62]))).models) == 62


# ------------------------------------------------------------------------- existing VPC


EXISTING = {"vpcId": "vpc-0abc1234", "privateSubnetIds": ["subnet-0abc1234", "subnet-0abc1235"]}


def test_an_existing_subnet_listed_twice_is_refused() -> None:
    existing = {**EXISTING, "privateSubnetIds": ["subnet-0abc1234", "subnet-0abc1234"]}
    assert errors(stack_config(network={"existing": existing})) == [
        "llm-serving:network.existing.privateSubnetIds[1]: subnet-0abc1234 is listed twice: each subnet stands "
        "for one AZ"
    ]


def test_a_subnet_both_private_and_public_is_refused() -> None:
    existing = {**EXISTING, "publicSubnetIds": ["subnet-0abc1234", "subnet-0abc1236"]}
    [line] = errors(stack_config(network={"existing": existing}))
    assert line.startswith("llm-serving:network.existing.publicSubnetIds[0]: subnet-0abc1234 is also a private")


def test_a_public_load_balancer_in_an_existing_vpc_needs_public_subnets() -> None:
    lb = {"internal": False, "allowedCidrs": ["203.0.113.0/24"]}
    [line] = errors(stack_config(network={"existing": EXISTING}, loadBalancer=lb))
    assert line.startswith("llm-serving:network.existing.publicSubnetIds: a public load balancer needs public subnets")
    existing = {**EXISTING, "publicSubnetIds": ["subnet-0abc1236", "subnet-0abc1237"]}
    assert parse_stack_config(stack_config(network={"existing": existing}, loadBalancer=lb)).network.existing


# ---------------------------------------------------------------- context and KV cache


def test_max_total_tokens_beyond_the_models_context_is_refused() -> None:
    # vLLM refuses a max_model_len above max_position_embeddings: the instances would
    # boot-loop on paid GPUs.
    qwen = model(modelId="Qwen/Qwen2.5-7B-Instruct", parametersBillions=7.6, maxInputTokens=4096, maxTotalTokens=40000)
    [line] = errors(stack_config(models={"chat": {**qwen, "instanceTypes": ["g6e.xlarge", "g6e.2xlarge"]}}))
    assert line == (
        "llm-serving:models.chat.maxTotalTokens: 40000 is beyond Qwen/Qwen2.5-7B-Instruct's context length "
        "(32768): the engine refuses to start; lower it to 32768 or less"
    )


def test_a_context_length_from_config_wins_over_the_table() -> None:
    [line] = errors(stack_config(models={"chat": model(contextLength=8192, maxTotalTokens=16384)}))
    assert line.startswith("llm-serving:models.chat.maxTotalTokens: 16384 is beyond contextLength (8192)")


def test_a_model_outside_the_table_needs_its_size_context_and_shape() -> None:
    m = model(modelId="acme/house-model-9b")
    del m["parametersBillions"]
    lines = errors(stack_config(models={"chat": m}))
    assert [line.split(": ")[0] for line in lines] == [
        "llm-serving:models.chat.parametersBillions",
        "llm-serving:models.chat.contextLength",
        "llm-serving:models.chat.architecture",
    ]
    assert all("acme/house-model-9b is not in the built-in table of models" in line for line in lines)


def test_a_model_outside_the_table_is_accepted_with_its_shape() -> None:
    m = model(
        modelId="acme/house-model-9b",
        parametersBillions=9,
        contextLength=16384,
        architecture={"layers": 40, "kvHeads": 8, "headDim": 128},
    )
    shape = parse_stack_config(stack_config(models={"chat": m})).models["chat"].shape
    assert (shape.parameters_billions, shape.context_length, shape.layers) == (9, 16384, 40)


def test_weights_that_fit_with_no_room_for_one_long_request_are_refused() -> None:
    # Llama 3.1 8B in BF16 (16 GB) fits a 24 GB L4, but a 131072-token request's KV cache
    # (131072 x 0.131 MB = 17.2 GB) does not: vLLM refuses to start.
    chat = model(maxInputTokens=4096, maxTotalTokens=131072)
    lines = errors(stack_config(models={"chat": chat}))
    assert [line.split(": ")[0] for line in lines] == [
        "llm-serving:models.chat.instanceTypes[0]",
        "llm-serving:models.chat.instanceTypes[1]",
    ]
    assert "plus a KV cache of 131072 tokens x 0.131 MB = 17.2 GB" in lines[0]
    # 21.6 GB usable - 16 GB of weights = 5.6 GB: 42724 tokens of 131072 bytes.
    assert lines[0].endswith("or lower maxTotalTokens to 42724 (what fits beside the weights)")
    assert parse_stack_config(stack_config(models={"chat": model(maxTotalTokens=42724)}))
    assert errors(stack_config(models={"chat": model(maxTotalTokens=42725)}))


def test_a_sharded_model_splits_weights_and_kv_heads_over_its_gpus() -> None:
    # 70B in AWQ (35 GB) over 4 x L40S: 8.75 GB of weights and 2 of 8 KV heads per GPU.
    config = parse_stack_config(
        stack_config(
            models={
                "chat": model(
                    modelId="meta-llama/Llama-3.1-70B-Instruct",
                    parametersBillions=70.6,
                    quantization="awq",
                    maxTotalTokens=32768,
                    instanceTypes=["g6e.12xlarge", "g6e.24xlarge"],
                )
            }
        )
    )
    chat = config.models["chat"]
    from infra import catalog

    fit = chat.memory_fit(catalog.CATALOG["g6e.12xlarge"], chat.shape)
    assert fit.weights_gb == pytest.approx(8.825)
    assert fit.kv_bytes_per_token == 2 * 80 * 2 * 128 * 2


# ------------------------------------------------------------------------- hints


def test_instance_types_are_matched_case_insensitively() -> None:
    config = parse_stack_config(stack_config(models={"chat": model(instanceTypes=["G6.XLarge", "g5.XLARGE"])}))
    assert config.models["chat"].instance_types == ["g6.xlarge", "g5.xlarge"]


def test_a_sagemaker_name_on_ec2_is_told_the_ec2_name() -> None:
    [line] = errors(stack_config(models={"chat": model(instanceTypes=["ml.g5.xlarge", "g6.xlarge"])}))
    assert (
        line
        == "llm-serving:models.chat.instanceTypes[0]: ml.g5.xlarge is a SageMaker instance type; on EC2 use g5.xlarge"
    )


def test_a_suggestion_stays_in_the_same_or_a_cheaper_gpu_class() -> None:
    # 13B in BF16 (26 GB) on an L4: suggest L4 (or T4) machines with more GPUs, not an L40S,
    # A100 or H100.
    [line] = errors(
        stack_config(
            models={"chat": model(parametersBillions=13, instanceTypes=["g6.xlarge"], capacity={"onDemandBase": 2})}
        )
    )
    suggested = line.split("that fit: ")[1]
    assert "L4" in suggested
    assert not any(gpu in suggested for gpu in ("L40S", "A100", "H100", "A10G"))


def test_a_suggestion_for_fp8_only_names_gpus_with_fp8() -> None:
    [line, *_] = errors(
        stack_config(
            models={"chat": model(parametersBillions=50, quantization="fp8", instanceTypes=["g6.xlarge", "g6.2xlarge"])}
        )
    )
    suggested = line.split("that fit: ")[1]
    assert "x L4" in suggested
    assert not any(gpu in suggested for gpu in ("T4", "A10G", "A100"))


def test_snake_case_keys_are_unknown_keys_pointing_to_the_camel_case_one() -> None:
    [line] = errors(stack_config(models={"chat": model(capacity={"on_demand_base": 1})}))
    assert line == (
        "llm-serving:models.chat.capacity.on_demand_base: unknown key: keys are camelCase: did you mean onDemandBase?"
    )


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"capacity": {"max": True}}, "llm-serving:models.chat.capacity.max: must be a whole number, not true"),
        ({"capacity": {"max": "2"}}, 'llm-serving:models.chat.capacity.max: must be a whole number, not "2"'),
        ({"capacity": {"max": 2.5}}, "llm-serving:models.chat.capacity.max: must be a whole number, not 2.5"),
        ({"parametersBillions": True}, "llm-serving:models.chat.parametersBillions: must be a number, not true"),
        ({"maxTotalTokens": False}, "llm-serving:models.chat.maxTotalTokens: must be a whole number, not false"),
    ],
)
def test_a_count_is_never_a_boolean_or_text(change: dict[str, Any], line: str) -> None:
    assert errors(stack_config(models={"chat": model(**change)})) == [line]


def test_a_switch_is_never_a_number_or_text() -> None:
    assert errors(stack_config(production=1, loadBalancer={"internal": "yes"})) == [
        "llm-serving:production: must be true or false, not 1",
        'llm-serving:loadBalancer.internal: must be true or false, not "yes"',
    ]


# ------------------------------------------------------------------- all in one run


def test_every_problem_of_a_model_and_every_production_rule_in_one_run() -> None:
    lines = errors(
        stack_config(
            production=True,
            network={"natGateways": "single"},
            models={
                "chat": model(
                    backend="eks",
                    eks={"instanceFamilies": []},
                    maxInputTokens=9000,
                    quantization="fp8",
                    instanceTypes=["g5.xlarge"],
                    capacity={"min": 3, "max": 2},
                ),
                "code": model(capacity={"max": "many"}),
            },
        )
    )
    assert [line.split(": ")[0] for line in lines] == [
        "llm-serving:models.chat.maxInputTokens",
        "llm-serving:models.chat.instanceTypes[0]",
        "llm-serving:models.chat.capacity.max",
        "llm-serving:models.chat.eks.instanceFamilies",
        "llm-serving:models.code.capacity.max",
        "llm-serving:network.natGateways",
        "llm-serving:loadBalancer.certificateArn",
        "llm-serving:alerts.emails",
    ]


@pytest.mark.parametrize("name", ["a[b", "chat.v2", "x[1]", "Chat Bot"])
def test_any_model_name_is_named_back_without_a_crash(name: str) -> None:
    [line] = errors(stack_config(models={name: model()}))
    assert line.startswith(f"llm-serving:models.{name}: model names must be 2 to 16 characters")
