"""The offline proof for Kubernetes objects (tests/k8s_schemas.py): the harness on
hand-written documents, then every Kubernetes object of every plan that has some."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import rpc

from infra.plan import Plan, PlannedResource
from tests.k8s_schemas import (
    CRD_DIR,
    is_object,
    kubernetes_version,
    manifest,
    manifests,
    plan_violations,
    secrets_with_data,
    validate,
)

K8S_PLANS = ["eks_existing_plan", "eks_created_plan"]
"""Session fixtures (tests/conftest.py) of the stacks that declare Kubernetes objects: an
EKS backend into an existing cluster, and one that creates its cluster."""


def _deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "engine", "namespace": "llm-serving", "labels": {"app": "engine"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "engine"}},
            "template": {
                "metadata": {"labels": {"app": "engine"}},
                "spec": {
                    "containers": [
                        {
                            "name": "engine",
                            "image": "vllm/vllm-openai:v0.11.0",
                            "resources": {"limits": {"nvidia.com/gpu": 1}},
                        }
                    ]
                },
            },
            **spec,
        },
    }


def _scaled_object(**trigger: Any) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "engine", "namespace": "llm-serving"},
        "spec": {
            "scaleTargetRef": {"name": "engine"},
            "minReplicaCount": 0,
            "maxReplicaCount": 4,
            "pollingInterval": 30,
            "cooldownPeriod": 300,
            "triggers": [
                {
                    "type": "aws-sqs-queue",
                    "metadata": {"queueURL": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "queueLength": "5"},
                    "authenticationRef": {"name": "engine-keda"},
                    **trigger,
                }
            ],
        },
    }


def _target_group_binding(api_version: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "TargetGroupBinding",
        "metadata": {"name": "engine", "namespace": "llm-serving"},
        "spec": {
            "serviceRef": {"name": "engine", "port": 80},
            "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/engine/0123456789abcdef",
            **spec,
        },
    }


# --------------------------------------------------------------------- built-in kinds


def test_valid_deployment_passes_for_1_33() -> None:
    assert validate(_deployment(), "1.33") == []


def test_misspelt_deployment_field_fails_naming_it() -> None:
    assert validate(_deployment(replicsa=2), "1.33") == [
        "spec: Additional properties are not allowed ('replicsa' was unexpected)"
    ]


def test_deployment_field_of_wrong_type_fails_naming_its_path() -> None:
    doc = _deployment()
    doc["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "8080"}]
    (message,) = validate(doc, "1.33")
    assert message.startswith("spec.template.spec.containers[0].ports[0].containerPort: '8080' is not of type")


def test_kubernetes_version_outside_the_shipped_schemas_is_reported() -> None:
    assert validate(_deployment(), "9.99") == ["kubernetes-validate does not support version 9.99"]


# ------------------------------------------------------------------- custom resources


def test_valid_scaled_object_passes() -> None:
    assert validate(_scaled_object(), "1.33") == []


def test_scaled_object_with_unknown_trigger_field_fails() -> None:
    assert validate(_scaled_object(queueLength="5"), "1.33") == [
        "spec.triggers[0]: Additional properties are not allowed ('queueLength' was unexpected)"
    ]


def test_scaled_object_with_a_number_where_keda_takes_a_string_fails() -> None:
    doc = _scaled_object()
    doc["spec"]["triggers"][0]["metadata"]["queueLength"] = 5
    assert validate(doc, "1.33") == ["spec.triggers[0].metadata.queueLength: 5 is not of type 'string'"]


def test_custom_resource_metadata_is_checked_as_object_meta() -> None:
    doc = _scaled_object()
    doc["metadata"]["label"] = {"app": "engine"}
    assert validate(doc, "1.33") == ["metadata: Additional properties are not allowed ('label' was unexpected)"]


def test_valid_trigger_authentication_with_pod_identity_passes() -> None:
    doc = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": "engine-keda", "namespace": "llm-serving"},
        "spec": {"podIdentity": {"provider": "aws", "roleArn": "arn:aws:iam::123456789012:role/keda"}},
    }
    assert validate(doc, "1.33") == []


def test_trigger_authentication_with_unknown_identity_provider_fails() -> None:
    doc = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": "engine-keda"},
        "spec": {"podIdentity": {"provider": "aws-kiam"}},
    }
    (message,) = validate(doc, "1.33")
    assert message.startswith("spec.podIdentity.provider: 'aws-kiam' is not one of")


def test_eks_auto_mode_target_group_binding_without_target_type_fails() -> None:
    assert validate(_target_group_binding("eks.amazonaws.com/v1"), "1.33") == [
        "spec: 'targetType' is a required property"
    ]


def test_eks_auto_mode_target_group_binding_with_target_type_passes() -> None:
    assert validate(_target_group_binding("eks.amazonaws.com/v1", targetType="ip"), "1.33") == []


def test_eks_auto_mode_target_group_binding_refuses_networking_from() -> None:
    networking = {"ingress": [{"from": [{"securityGroup": {"groupID": "sg-0123"}}], "ports": [{"port": 8080}]}]}
    doc = _target_group_binding("eks.amazonaws.com/v1", targetType="ip", networking=networking)
    assert validate(doc, "1.33") == [
        "spec.networking.ingress[0]: Additional properties are not allowed ('from' was unexpected)"
    ]


def test_load_balancer_controller_target_group_binding_infers_target_type() -> None:
    assert validate(_target_group_binding("elbv2.k8s.aws/v1beta1"), "1.33") == []


def test_valid_gpu_node_pool_and_node_class_pass() -> None:
    node_pool = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu"},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "gpu"},
                    "requirements": [
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]},
                        {"key": "eks.amazonaws.com/instance-family", "operator": "In", "values": ["g6", "g5"]},
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
                    "expireAfter": "336h",
                }
            },
            "limits": {"nvidia.com/gpu": 4},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "300s"},
        },
    }
    node_class = {
        "apiVersion": "eks.amazonaws.com/v1",
        "kind": "NodeClass",
        "metadata": {"name": "gpu"},
        "spec": {
            "role": "llm-serving-nodes",
            "subnetSelectorTerms": [{"id": "subnet-0123456789abcdef0"}],
            "securityGroupSelectorTerms": [{"tags": {"kubernetes.io/cluster/llm": "owned"}}],
            "ephemeralStorage": {"size": "200Gi", "iops": 3000, "throughput": 125},
        },
    }
    assert (validate(node_pool, "1.33"), validate(node_class, "1.33")) == ([], [])


def test_node_pool_with_a_bad_consolidation_delay_fails() -> None:
    doc = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu"},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "gpu"},
                    "requirements": [],
                }
            },
            "disruption": {"consolidateAfter": "5 minutes"},
        },
    }
    (message,) = validate(doc, "1.33")
    assert message.startswith("spec.disruption.consolidateAfter: '5 minutes' does not match")


def test_custom_resource_without_a_schema_is_reported() -> None:
    doc = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert validate(doc, "1.33") == ["example.com/v1 Widget: no schema for this custom resource: add one under crds/"]


def test_every_schema_file_is_named_for_a_group_version_and_kind() -> None:
    names = sorted(p.name for p in CRD_DIR.glob("*.yaml"))
    assert names == [
        "eks.amazonaws.com_v1_NodeClass.yaml",
        "eks.amazonaws.com_v1_TargetGroupBinding.yaml",
        "elbv2.k8s.aws_v1beta1_TargetGroupBinding.yaml",
        "karpenter.sh_v1_NodePool.yaml",
        "keda.sh_v1alpha1_ScaledObject.yaml",
        "keda.sh_v1alpha1_TriggerAuthentication.yaml",
    ]


# -------------------------------------------------------------------------- manifests


def _resource(type_: str, name: str, inputs: dict[str, Any], custom: bool = True) -> PlannedResource:
    urn = f"urn:pulumi:dev::llm-serving::{type_}::{name}"
    return PlannedResource(urn, type_, name, "", custom, inputs, (), f"{name}_id")


def _plan(*resources: PlannedResource) -> Plan:
    return Plan("llm-serving", "dev", list(resources), {}, frozenset())


def test_manifest_turns_whole_floats_into_integers_at_any_depth() -> None:
    wire = _deployment()
    wire["spec"]["replicas"] = 2.0
    wire["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = 1.0
    wire["spec"]["template"]["spec"]["containers"][0]["args"] = ["--gpu-memory-utilization", 0.9]
    doc = manifest(_resource("kubernetes:apps/v1:Deployment", "engine", wire))
    container = doc["spec"]["template"]["spec"]["containers"][0]
    found = [doc["spec"]["replicas"], container["resources"]["limits"]["nvidia.com/gpu"], container["args"][1]]
    assert [(value, type(value)) for value in found] == [(2, int), (1, int), (0.9, float)]


def test_manifest_puts_api_version_kind_and_metadata_first_and_autonames() -> None:
    wire = {"spec": {"ports": [{"port": 80.0}]}, "kind": "Service", "apiVersion": "v1"}
    doc = manifest(_resource("kubernetes:core/v1:Service", "engine", wire))
    assert doc == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "engine-0a1b2c3d"},
        "spec": {"ports": [{"port": 80}]},
    }
    assert list(doc) == ["apiVersion", "kind", "metadata", "spec"]


def test_manifest_unwraps_secrets() -> None:
    wire = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": rpc.wrap_rpc_secret({"t": "x"}),
    }
    assert manifest(_resource("kubernetes:core/v1:Secret", "s", wire))["stringData"] == {"t": "x"}


def test_manifests_leave_out_helm_releases_patches_and_the_provider() -> None:
    plan = _plan(
        _resource("pulumi:providers:kubernetes", "k8s", {"kubeconfig": "{}"}),
        _resource("kubernetes:helm.sh/v3:Release", "keda", {"chart": "keda", "compat": "true"}),
        _resource("kubernetes:apps/v1:DeploymentPatch", "coredns", {"apiVersion": "apps/v1", "kind": "Deployment"}),
        _resource("llm-serving:k8s:Engine", "engine", {}, custom=False),
        _resource("kubernetes:core/v1:Namespace", "ns", {"apiVersion": "v1", "kind": "Namespace"}),
    )
    assert [d["kind"] for d in manifests(plan)] == ["Namespace"]


def test_plan_violations_name_type_and_resource() -> None:
    plan = _plan(_resource("kubernetes:apps/v1:Deployment", "engine", _deployment(replicsa=1.0)))
    assert plan_violations(plan, "1.33") == [
        "kubernetes:apps/v1:Deployment engine: spec: Additional properties are not allowed ('replicsa' was unexpected)"
    ]


def test_kubernetes_version_is_the_created_clusters() -> None:
    plan = _plan(_resource("aws:eks/cluster:Cluster", "cluster", {"version": "1.34"}))
    assert (kubernetes_version(plan), kubernetes_version(_plan())) == ("1.34", "1.33")


def test_a_secret_holding_data_is_a_finding() -> None:
    token = {"apiVersion": "v1", "kind": "Secret", "stringData": rpc.wrap_rpc_secret({"HF_TOKEN": "hf_x"})}
    empty = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token"}
    plan = _plan(
        _resource("kubernetes:core/v1:Secret", "hf", token), _resource("kubernetes:core/v1:Secret", "sa", empty)
    )
    assert secrets_with_data(plan) == ["hf: a Secret holding stringData"]


# ------------------------------------------------------------------------------ plans


def _k8s_plan(request: pytest.FixtureRequest, fixture: str) -> Plan:
    try:
        plan: Plan = request.getfixturevalue(fixture)
    except pytest.FixtureLookupError:
        pytest.skip(f"no fixture {fixture} yet: the EKS backend's stacks add it (tests/conftest.py)")
    if not any(is_object(r) for r in plan.resources):
        pytest.skip(f"{fixture} declares no Kubernetes object yet")
    return plan


@pytest.mark.parametrize("fixture", K8S_PLANS)
def test_plans_kubernetes_objects_are_valid(request: pytest.FixtureRequest, fixture: str) -> None:
    plan = _k8s_plan(request, fixture)
    assert plan_violations(plan, kubernetes_version(plan)) == []


@pytest.mark.parametrize("fixture", K8S_PLANS)
def test_no_plan_keeps_a_token_in_a_kubernetes_secret(request: pytest.FixtureRequest, fixture: str) -> None:
    assert secrets_with_data(_k8s_plan(request, fixture)) == []
