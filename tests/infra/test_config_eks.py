"""The rules of `backend: eks` models and the stack's `eks` section, each once accepted and once
refused with the key it points at."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, StackConfig, parse_stack_config
from tests.helpers import model, stack_config

EXISTING_NETWORK = {
    "existing": {
        "vpcId": "vpc-0abc1234def567890",
        "privateSubnetIds": ["subnet-0abc1234def567890", "subnet-0abc1234def567891"],
    }
}
EXISTING = {"clusterName": "ml-prod", "autoMode": True, "keda": {"install": True}}
CREATED = {"create": True}
KEDA_ROLE = "arn:aws:iam::123456789012:role/keda-operator"


def eks_model(**fields: Any) -> dict[str, Any]:
    return model(**{"backend": "eks", "instanceTypes": ["g6e.xlarge"], **fields})


def parse(**sections: Any) -> StackConfig:
    sections.setdefault("models", {"chat": eks_model()})
    sections.setdefault("eks", CREATED)
    return parse_stack_config(stack_config(**sections), "us-east-1", "dev")


def errors(**sections: Any) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse(**sections)
    return e.value.lines


# ------------------------------------------------------------------------ the section


def test_accepts_a_created_cluster_with_keda_installed_and_auto_mode() -> None:
    eks = parse().eks
    assert eks is not None and eks.create and eks.is_auto_mode and eks.installs_keda
    assert eks.kubernetes_version == "1.35"


def test_a_created_cluster_runs_a_version_keda_is_tested_on_when_the_stack_installs_it() -> None:
    assert parse(eks={**CREATED, "kubernetesVersion": "1.33"}).eks is not None
    [line] = errors(eks={**CREATED, "kubernetesVersion": "1.32"})
    assert line.startswith(
        "llm-serving:eks.kubernetesVersion: 1.32 is outside the versions KEDA 2.20.2, which the stack installs, "
        "is tested on (1.33, 1.34, 1.35;"
    )
    # KEDA of your own: your choice of version.
    own_keda = {**CREATED, "kubernetesVersion": "1.32", "keda": {"install": False, "operatorRoleArn": KEDA_ROLE}}
    assert parse(eks=own_keda).eks is not None


def test_accepts_an_existing_cluster_in_the_stacks_existing_vpc() -> None:
    eks = parse(eks=EXISTING, network=EXISTING_NETWORK).eks
    assert eks is not None and eks.cluster_name == "ml-prod" and not eks.create and eks.installs_keda


def test_an_existing_cluster_does_not_install_keda_by_default() -> None:
    eks = parse(
        eks={"clusterName": "ml", "autoMode": False, "keda": {"operatorRoleArn": "arn:aws:iam::123456789012:role/k"}},
        network=EXISTING_NETWORK,
    ).eks
    assert eks is not None and not eks.installs_keda and not eks.is_auto_mode


def test_rejects_a_cluster_neither_named_nor_created() -> None:
    assert errors(eks={}) == [
        "llm-serving:eks.clusterName: required: name the existing cluster, or set create: true to create one"
    ]


def test_rejects_a_cluster_both_named_and_created() -> None:
    [line] = errors(eks={"clusterName": "ml", "create": True})
    assert line.startswith("llm-serving:eks.create: cannot be true together with clusterName")


def test_rejects_an_existing_cluster_without_auto_mode_said() -> None:
    [line] = errors(eks={"clusterName": "ml", "keda": {"install": True}}, network=EXISTING_NETWORK)
    assert line.startswith("llm-serving:eks.autoMode: required for an existing cluster")


def test_rejects_a_created_cluster_without_auto_mode() -> None:
    [line] = errors(eks={"create": True, "autoMode": False})
    assert line.startswith("llm-serving:eks.autoMode: a cluster the stack creates always runs Auto Mode")


def test_rejects_a_kubernetes_version_for_an_existing_cluster() -> None:
    [line] = errors(eks={**EXISTING, "kubernetesVersion": "1.34"}, network=EXISTING_NETWORK)
    assert line.startswith("llm-serving:eks.kubernetesVersion: only for a cluster the stack creates")


def test_rejects_an_invalid_cluster_name() -> None:
    [line] = errors(eks={**EXISTING, "clusterName": "-ml"}, network=EXISTING_NETWORK)
    assert line.startswith("llm-serving:eks.clusterName: '-ml' has the wrong format")


def test_rejects_an_existing_keda_without_its_operator_role() -> None:
    [line] = errors(eks={"clusterName": "ml", "autoMode": True}, network=EXISTING_NETWORK)
    assert line.startswith("llm-serving:eks.keda.operatorRoleArn: required when the stack does not install KEDA")


def test_rejects_an_operator_role_when_the_stack_installs_keda() -> None:
    [line] = errors(eks={"create": True, "keda": {"operatorRoleArn": "arn:aws:iam::123456789012:role/k"}})
    assert line.startswith("llm-serving:eks.keda.operatorRoleArn: the stack installs KEDA and creates its operator's")


def test_rejects_an_eks_section_with_no_eks_model() -> None:
    assert errors(models={"chat": model()}) == [
        "llm-serving:eks: no model has backend: eks; remove the section, or set a model's backend to eks"
    ]


def test_rejects_an_eks_model_without_the_section() -> None:
    [line] = errors(eks=None)
    assert line.startswith("llm-serving:eks: required: chat run on EKS")


def test_rejects_an_existing_cluster_outside_an_existing_network() -> None:
    [line] = errors(eks=EXISTING)
    assert line.startswith("llm-serving:network.existing: required with eks.clusterName")


# ------------------------------------------------------------------------- the model


def test_an_eks_model_loads_its_weights_from_s3_and_draws_families_from_its_types() -> None:
    config = parse(models={"chat": eks_model(instanceTypes=["g6e.xlarge", "g6.xlarge", "g6e.2xlarge"])})
    assert config.weights_source("chat") == "s3"
    assert config.models["chat"].eks_families == ["g6e", "g6"]


def test_accepts_one_instance_type_for_spot_on_eks() -> None:
    # The node pool launches any size of the family: one type is not one spot pool.
    assert parse().models["chat"].instance_types == ["g6e.xlarge"]


def test_accepts_configured_families_and_capacity_types() -> None:
    settings = parse(models={"chat": eks_model(eks={"instanceFamilies": ["g6"], "capacityTypes": ["on-demand"]})})
    chat = settings.models["chat"]
    assert chat.eks_families == ["g6"] and chat.eks_settings.capacity_types == ["on-demand"]


def test_rejects_no_gpu_family_for_the_node_pool() -> None:
    assert errors(models={"chat": eks_model(eks={"instanceFamilies": []})}) == [
        "llm-serving:models.chat.eks.instanceFamilies: needs at least one GPU family for the node pool, e.g. [g6e, g6]"
    ]


def test_rejects_a_family_without_gpus() -> None:
    [line] = errors(models={"chat": eks_model(eks={"instanceFamilies": ["g6", "m7i"]})})
    assert line.startswith("llm-serving:models.chat.eks.instanceFamilies[1]: 'm7i' is not a GPU family")


def test_rejects_a_capacity_type_listed_twice() -> None:
    [line] = errors(models={"chat": eks_model(eks={"capacityTypes": ["spot", "spot"]})})
    assert line == "llm-serving:models.chat.eks.capacityTypes[1]: spot is listed twice"


def test_rejects_an_unknown_capacity_type() -> None:
    [line] = errors(models={"chat": eks_model(eks={"capacityTypes": ["reserved"]})})
    assert line.startswith("llm-serving:models.chat.eks.capacityTypes[0]: input should be 'spot' or 'on-demand'")


def test_rejects_capacity_min_above_max_on_eks() -> None:
    assert errors(models={"chat": eks_model(capacity={"min": 3, "max": 2})}) == [
        "llm-serving:models.chat.capacity.max: must be at least min (3)"
    ]


def test_rejects_ec2_capacity_keys_on_eks() -> None:
    lines = errors(models={"chat": eks_model(capacity={"max": 2, "onDemandBase": 1, "warmPool": 1})})
    assert [line.split(": ")[0] for line in lines] == [
        "llm-serving:models.chat.capacity.onDemandBase",
        "llm-serving:models.chat.capacity.warmPool",
    ]


def test_rejects_weights_from_the_hub_on_eks() -> None:
    [line] = errors(models={"chat": eks_model(weights={"source": "hub"})})
    assert line.startswith("llm-serving:models.chat.weights.source: EKS pods copy staged weights")


def test_rejects_a_schedule_on_eks() -> None:
    [line] = errors(models={"chat": eks_model(schedule={"offCron": "0 19 * * 1-5", "onCron": "0 7 * * 1-5"})})
    assert line.startswith("llm-serving:models.chat.schedule: not available on EKS yet")


def test_rejects_an_eks_block_on_an_ec2_model() -> None:
    assert errors(models={"chat": model(eks={})}, eks=None) == [
        "llm-serving:models.chat.eks: only for backend: eks; remove it, or set backend: eks"
    ]
