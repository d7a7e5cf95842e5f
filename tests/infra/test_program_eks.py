"""EKS models in two test stacks (an existing Auto Mode cluster; a created one beside an EC2
model): what the plan declares for them, checked against what Kubernetes, EKS, KEDA and the
engines need, and against the EC2 backend's contracts."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import yaml

from components.ec2 import gpu_fleet
from components.eks import keda
from components.eks.model_workload import AWS_CLI_IMAGE, PROBE_PERIOD_SECONDS
from infra.plan import Plan, PlannedResource
from model_server.engines import ENGINES
from model_server.weights import layout
from tests.helpers import ROOT

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def pod(plan: Plan, model: str) -> dict[str, Any]:
    spec: dict[str, Any] = plan.named(DEPLOYMENT, f"{model}-deployment").input("spec")["template"]["spec"]
    return spec


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in spec["initContainers"] + spec["containers"] if c["name"] == name)
    return found


def env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c["env"]}


def ec2_worker_env(plan: Plan, model: str) -> dict[str, str]:
    lt = plan.named("aws:ec2/launchTemplate:LaunchTemplate", f"{model}-lt")
    document = yaml.safe_load(base64.b64decode(lt.input("userData")).decode())
    text = next(f["content"] for f in document["write_files"] if f["path"].endswith("worker.env"))
    return dict(line.split("=", 1) for line in text.splitlines())


def test_both_eks_stacks_plan_with_no_mandatory_finding(eks_existing_plan: Plan, eks_created_plan: Plan) -> None:
    for plan in (eks_existing_plan, eks_created_plan):
        assert [f for f in plan.findings if f["level"] == "mandatory"] == []
    assert eks_existing_plan.outputs["models"]["chat"]["clusterName"] == "ml-platform"
    assert "autoScalingGroupNames" in eks_created_plan.outputs["models"]["chat"]
    assert eks_created_plan.outputs["models"]["summarize"]["namespace"] == "llm-eks-created-summarize"


def test_the_worker_keeps_the_ec2_environment_contract_but_for_metrics_and_the_hook(
    eks_existing_plan: Plan, mixed_plan: Plan
) -> None:
    # The same model (chat, TGI, 64 concurrent requests) on EC2 in the mixed stack.
    on_ec2 = ec2_worker_env(mixed_plan, "chat")
    on_eks = env(container(pod(eks_existing_plan, "chat"), "worker"))
    differences = {
        "WORKER_LIFECYCLE_HOOK_NAME",
        "WORKER_EMF_LOG_GROUP",
        "WORKER_EMF_ENDPOINT",
        "WORKER_INSTANCE_METADATA",
    }
    assert set(on_ec2) - set(on_eks) == {"WORKER_LIFECYCLE_HOOK_NAME", "WORKER_EMF_LOG_GROUP"}
    assert set(on_eks) - set(on_ec2) == {"WORKER_INSTANCE_METADATA"}
    assert on_eks["WORKER_INSTANCE_METADATA"] == "false"  # a pod does not reach the node's IMDS
    assert {k: v for k, v in on_eks.items() if k not in differences} == {
        k: v for k, v in on_ec2.items() if k not in differences
    }
    assert on_eks["WORKER_EMF_ENDPOINT"] == "stdout"  # no CloudWatch agent in a pod
    assert on_eks["WORKER_ENGINE_URL"] == f"http://127.0.0.1:{ENGINES['tgi'].port}"


def test_the_engine_runs_as_a_native_sidecar_with_the_ec2_arguments(eks_existing_plan: Plan) -> None:
    spec = pod(eks_existing_plan, "chat")
    assert [c["name"] for c in spec["initContainers"]] == ["fetch-weights", "engine"]
    assert [c["name"] for c in spec["containers"]] == ["worker"]
    engine = container(spec, "engine")
    assert engine["restartPolicy"] == "Always"
    tgi = ENGINES["tgi"]
    local = f"/data/{layout.prefix('meta-llama/Llama-3.1-8B-Instruct', '0e9e39f249a16976918f6564b8830bc894c89659')}"
    assert engine["command"] == [tgi.entrypoint]
    assert engine["args"][:2] == ["--model-id", local.rstrip("/")]
    assert "--revision" not in engine["args"]
    assert env(engine)["HF_HUB_OFFLINE"] == "1"


def test_the_weights_are_copied_from_the_staged_prefix_with_a_pinned_cli(eks_existing_plan: Plan) -> None:
    fetch = container(pod(eks_existing_plan, "chat"), "fetch-weights")
    assert fetch["image"] == AWS_CLI_IMAGE and ":" in AWS_CLI_IMAGE.rsplit("/", 1)[1]
    values = env(fetch)
    assert values["WEIGHTS_URI"] == eks_existing_plan.outputs["models"]["chat"]["weights"]["uri"]
    assert values["WEIGHTS_MARKER"] == layout.MARKER
    assert "aws s3 sync" in fetch["args"][0] and "$WEIGHTS_MARKER" in fetch["args"][0]


def test_probes_give_the_model_its_ec2_load_time_and_the_pod_time_to_drain(eks_existing_plan: Plan) -> None:
    spec = pod(eks_existing_plan, "chat")
    engine = container(spec, "engine")
    startup = engine["startupProbe"]
    tgi = ENGINES["tgi"]
    weights_gb = 16.06  # 8.03B parameters x 2 bytes
    grace = gpu_fleet.estimate_load_seconds(weights_gb, tgi.image_size_gib, weights_from_s3=True, image_from_ecr=True)
    assert startup["periodSeconds"] == PROBE_PERIOD_SECONDS
    assert startup["failureThreshold"] * startup["periodSeconds"] >= grace
    assert startup["httpGet"] == {"path": tgi.readiness_path, "port": tgi.port}
    assert engine["readinessProbe"]["httpGet"]["path"] == tgi.readiness_path
    assert spec["terminationGracePeriodSeconds"] >= gpu_fleet.WORKER_DRAIN_SECONDS + tgi.graceful_stop_seconds


def test_pods_get_their_gpus_tolerate_gpu_nodes_shared_memory_and_zone_spread(eks_created_plan: Plan) -> None:
    spec = pod(eks_created_plan, "summarize")
    engine = container(spec, "engine")
    resources = engine["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == 1
    # Three quarters of the listed type (g6e.xlarge: 32 GiB); the rest for the kubelet and the worker.
    assert resources["limits"]["memory"] == "24Gi" and resources["requests"]["memory"] == "8Gi"
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    shm = next(v for v in spec["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": f"{ENGINES['vllm'].shm_size_gib}Gi"}
    [spread] = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spec["nodeSelector"] == {"karpenter.sh/nodepool": "llm-eks-created-summarize"}
    assert "replicas" not in eks_created_plan.named(DEPLOYMENT, "summarize-deployment").input("spec")


def test_a_disruption_budget_lets_one_pod_go_at_a_time(eks_existing_plan: Plan) -> None:
    pdb = eks_existing_plan.named("kubernetes:policy/v1:PodDisruptionBudget", "chat-disruption")
    assert pdb.input("spec")["maxUnavailable"] == 1


def test_keda_scales_on_the_queue_as_the_models_role(eks_existing_plan: Plan) -> None:
    scaled = eks_existing_plan.named("kubernetes:keda.sh/v1alpha1:ScaledObject", "chat-scaling").input("spec")
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 4)
    [trigger] = scaled["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metadata"]["queueURL"] == eks_existing_plan.outputs["models"]["chat"]["queueUrl"]
    assert trigger["metadata"]["queueLength"] == "64" and trigger["metadata"]["awsRegion"] == "us-east-1"
    auth = eks_existing_plan.named("kubernetes:keda.sh/v1alpha1:TriggerAuthentication", "chat-queue-auth")
    assert trigger["authenticationRef"] == {"name": auth.input("metadata")["name"]}
    role = eks_existing_plan.named("aws:iam/role:Role", "chat-pods")
    assert auth.input("spec") == {"podIdentity": {"provider": "aws", "roleArn": role.outputs["arn"]}}


def test_a_model_on_a_created_cluster_may_scale_to_zero(eks_created_plan: Plan) -> None:
    scaled = eks_created_plan.named("kubernetes:keda.sh/v1alpha1:ScaledObject", "summarize-scaling").input("spec")
    assert scaled["minReplicaCount"] == 0


def test_the_pods_role_reaches_its_queue_results_and_weights_only(eks_existing_plan: Plan) -> None:
    role = eks_existing_plan.named("aws:iam/role:Role", "chat-pods")
    trust = json.loads(role.input("assumeRolePolicy"))["Statement"]
    assert trust[0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust[0]["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    keda_role = eks_existing_plan.named("aws:iam/role:Role", "keda-operator")
    assert trust[1] == {"Effect": "Allow", "Principal": {"AWS": keda_role.outputs["arn"]}, "Action": "sts:AssumeRole"}
    policies = [p for p in eks_existing_plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.startswith("chat-")]
    assert sorted(p.name for p in policies) == ["chat-queue", "chat-results", "chat-weights"]
    association = eks_existing_plan.named("aws:eks/podIdentityAssociation:PodIdentityAssociation", "chat-pods")
    assert association.input("serviceAccount") == association.input("namespace") == "llm-eks-existing-chat"
    assert association.input("clusterName") == "ml-platform"


def test_traffic_reaches_the_pods_through_an_ip_target_group_and_an_auto_mode_binding(eks_existing_plan: Plan) -> None:
    tg = eks_existing_plan.named("aws:lb/targetGroup:TargetGroup", "chat-tg")
    assert tg.input("targetType") == "ip" and tg.input("tags") == {"eks:eks-cluster-name": "ml-platform"}
    binding = eks_existing_plan.named("kubernetes:eks.amazonaws.com/v1:TargetGroupBinding", "chat-binding")
    spec = binding.input("spec")
    assert spec["targetGroupARN"] == tg.outputs["arn"] and spec["targetType"] == "ip"
    assert "networking" not in spec
    assert spec["serviceRef"] == {"name": "llm-eks-existing-chat", "port": ENGINES["tgi"].port}
    rule = eks_existing_plan.named("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "chat-from-alb")
    alb_sg = eks_existing_plan.named("aws:ec2/securityGroup:SecurityGroup", "models-alb")
    assert rule.input("referencedSecurityGroupId") == alb_sg.id
    assert rule.input("fromPort") == rule.input("toPort") == ENGINES["tgi"].port
    assert rule.input("securityGroupId").startswith("sg-")


def test_user_facing_alarms_watch_the_target_group_and_the_queue(eks_existing_plan: Plan) -> None:
    alarms = {a.name for a in eks_existing_plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {"chat-errors", "chat-latency", "chat-unhealthy", "chat-queue-age", "chat-dead-letters"} <= alarms
    assert "chat-spot-shortfall" not in alarms  # no Auto Scaling group on EKS


def test_the_dashboard_has_a_row_of_eight_graphs_for_the_eks_model(eks_existing_plan: Plan) -> None:
    body = json.loads(
        eks_existing_plan.named("aws:cloudwatch/dashboard:Dashboard", "stack-dashboard").input("dashboardBody")
    )
    titles = [w["properties"]["title"] for w in body["widgets"] if w["properties"]["title"].startswith("chat: ")]
    assert len(titles) == 8 and "chat: pods" in titles


def test_the_kubernetes_provider_asks_aws_eks_get_token_and_keeps_no_token(eks_existing_plan: Plan) -> None:
    provider = eks_existing_plan.named("pulumi:providers:kubernetes", "eks-k8s")
    kubeconfig = json.loads(provider.input("kubeconfig"))
    [user] = kubeconfig["users"]
    assert user["user"].keys() == {"exec"}
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", "ml-platform"]
    [cluster] = kubeconfig["clusters"]
    assert cluster["cluster"]["server"].startswith("https://") and cluster["cluster"]["server"].endswith(
        ".eks.amazonaws.com"
    )


def test_keda_is_installed_from_its_pinned_chart(eks_existing_plan: Plan) -> None:
    release = eks_existing_plan.named("kubernetes:helm.sh/v3:Release", "keda-chart")
    # The release whose CRDs the tests validate the ScaledObjects against (tests/crds/README.md).
    crds = (ROOT / "tests" / "crds" / "README.md").read_text()
    [validated] = set(re.findall(r"kedacore/keda v(\d+\.\d+\.\d+)", crds))
    assert release.input("chart") == "keda" and release.input("version") == validated
    assert release.input("repositoryOpts") == {"repo": "https://kedacore.github.io/charts"}
    association = eks_existing_plan.named("aws:eks/podIdentityAssociation:PodIdentityAssociation", "keda-operator")
    assert association.input("serviceAccount") == keda.OPERATOR_SERVICE_ACCOUNT


def test_a_created_cluster_runs_auto_mode_with_its_roles(eks_created_plan: Plan) -> None:
    cluster = eks_created_plan.named("aws:eks/cluster:Cluster", "eks-cluster")
    assert cluster.input("bootstrapSelfManagedAddons") is False
    assert cluster.input("computeConfig")["enabled"] is True
    assert cluster.input("kubernetesNetworkConfig")["elasticLoadBalancing"] == {"enabled": True}
    assert cluster.input("storageConfig")["blockStorage"] == {"enabled": True}
    assert cluster.input("vpcConfig")["subnetIds"] == eks_created_plan.outputs["privateSubnetIds"]
    attached = {
        (a.name.split("-")[1], a.input("policyArn").rsplit("/", 1)[1])
        for a in eks_created_plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith("eks-")
    }
    assert {p for r, p in attached if r == "cluster"} >= {"AmazonEKSComputePolicy", "AmazonEKSLoadBalancingPolicy"}
    assert {p for r, p in attached if r == "node"} == {
        "AmazonEKSWorkerNodeMinimalPolicy",
        "AmazonEC2ContainerRegistryPullOnly",
    }


def test_the_node_pool_launches_the_models_gpu_families_on_spot_and_on_demand(eks_created_plan: Plan) -> None:
    pool = eks_created_plan.named("kubernetes:karpenter.sh/v1:NodePool", "summarize-nodes").input("spec")
    template = pool["template"]["spec"]
    assert template["nodeClassRef"] == {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"}
    requirements = {r["key"]: r["values"] for r in template["requirements"]}
    assert requirements["eks.amazonaws.com/instance-family"] == ["g6e", "g6"]
    assert requirements["karpenter.sh/capacity-type"] == ["spot", "on-demand"]
    assert template["taints"] == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    assert pool["limits"] == {"nvidia.com/gpu": 3}


def _kubernetes_objects(plan: Plan) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type.startswith("kubernetes:") and r.type != "kubernetes:helm.sh/v3:Release"]


def test_every_kubernetes_object_has_an_explicit_name_and_labels(eks_created_plan: Plan) -> None:
    objects = _kubernetes_objects(eks_created_plan)
    assert len(objects) >= 10
    for r in objects:
        metadata = r.input("metadata")
        assert metadata["name"].startswith("llm-eks-created-") or metadata["name"] == keda.NAMESPACE, r.name
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "pulumi", r.name


RESTRICTED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")
"""Karpenter's NodePool refuses template labels in these domains (a CEL rule of its CRD, which
the schema check in tests/k8s_schemas.py does not run), except its well-known keys and the
node.kubernetes.io and node-restriction.kubernetes.io subdomains."""


@pytest.mark.parametrize("fixture", ["eks_created_plan", "eks_existing_plan"])
def test_node_pool_template_labels_are_in_domains_karpenter_accepts(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    plan: Plan = request.getfixturevalue(fixture)
    pools = plan.of_type("kubernetes:karpenter.sh/v1:NodePool")
    assert pools
    for pool in pools:
        labels = pool.input("spec")["template"]["metadata"]["labels"]
        assert labels
        for key in labels:
            domain = key.split("/", 1)[0] if "/" in key else ""
            assert not domain.endswith(RESTRICTED_LABEL_DOMAINS), (pool.name, key)
