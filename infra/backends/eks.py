"""The EKS backend: a model as a Deployment on the stack's EKS cluster, behind the stack's
load balancer, scaled by KEDA on its queue.

The first EKS model of a stack builds the stack's part (components/eks/cluster.py: the
cluster, created or looked up, and its Kubernetes provider; components/eks/keda.py when
the stack installs KEDA); every EKS model then declares its route (an ``ip`` target group
and listener rule), its workload (components/eks/model_workload.py) and the alarms that
watch both, and gives back its dashboard row and exports.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import _ecr
from components.ec2 import gpu_fleet
from components.eks.cluster import CreatedCluster, EksCluster, EksClusterArgs
from components.eks.dashboard_row import PodsDashboardRow
from components.eks.keda import Keda, KedaArgs
from components.eks.model_workload import GpuNodePool, ModelWorkload, ModelWorkloadArgs
from components.load_balancer import ModelRoute
from components.model_alarms import ModelAlarms
from components.worker_environment import worker_environment
from infra.backends import ModelDeployment, ModelRequest, queue_alarms_args, route_args
from infra.config import EksConfig, ModelConfig, stack_region
from model_server.engines import ENGINES
from model_server.weights import layout

AUTO_MODE_CLUSTER_TAG = "eks:eks-cluster-name"
"""Auto Mode's load-balancing policy acts on resources tagged with its cluster's name
(AmazonEKSLoadBalancingPolicy; docs/reference.md#eks)."""
WEIGHTS_VOLUME_SLACK_GIB = 10


@dataclass(frozen=True)
class StackCluster:
    """The stack's cluster as its EKS models use it."""

    cluster: EksCluster
    keda: Keda | None
    keda_operator_role_arn: pulumi.Input[str]
    region: pulumi.Output[str]


def kubernetes_name(name_prefix: str) -> str:
    """``llm-<stack>-<model>-`` as a Kubernetes name (a DNS label: lower case, no ``_``)."""
    return re.sub(r"[^a-z0-9-]", "-", name_prefix.lower()).strip("-")


def startup_seconds(model: ModelConfig, engine_image: str) -> int:
    """How long a pod's engine may take to load: the EC2 grace estimate (weights from S3)
    or healthCheckGraceSeconds."""
    if model.health_check_grace_seconds is not None:
        return model.health_check_grace_seconds
    engine = ENGINES[model.engine]
    return gpu_fleet.estimate_load_seconds(
        model.weights_gb, engine.image_size_gib, weights_from_s3=True, image_from_ecr=_ecr.is_ecr_image(engine_image)
    )


def _stack_cluster(request: ModelRequest, eks: EksConfig) -> StackCluster:
    region = aws.get_region_output().region
    cluster = EksCluster(
        "eks",
        EksClusterArgs(
            cluster=CreatedCluster(
                subnet_ids=request.shared.network.private_subnet_ids, kubernetes_version=eks.kubernetes_version
            )
            if eks.create
            else str(eks.cluster_name),
            region=region,
        ),
    )
    keda = None
    if eks.installs_keda:
        keda = Keda(
            "keda",
            KedaArgs(cluster_name=cluster.cluster_name),
            opts=pulumi.ResourceOptions(providers=[cluster.provider]),
        )
    operator_role: pulumi.Input[str] = keda.operator_role_arn if keda is not None else str(eks.keda.operator_role_arn)
    return StackCluster(cluster=cluster, keda=keda, keda_operator_role_arn=operator_role, region=region)


def build(request: ModelRequest) -> ModelDeployment:
    name, model, config, shared, queue = request.name, request.model, request.config, request.shared, request.queue
    eks = config.eks
    assert eks is not None  # the config requires it for EKS models
    if "eks" not in shared.parts:
        shared.parts["eks"] = _stack_cluster(request, eks)
    stack: StackCluster = shared.parts["eks"]
    cluster, balancer = stack.cluster, shared.balancer
    engine = ENGINES[model.engine]
    prefix_ = layout.prefix(model.model_id, model.revision)
    local_path = f"{engine.model_cache_dir}/{prefix_}".rstrip("/")
    engine_image = model.engine_image(stack_region())
    capacity = model.capacity
    startup = startup_seconds(model, engine_image)
    route = ModelRoute(
        name,
        route_args(
            request,
            target_type="ip",
            tags={AUTO_MODE_CLUSTER_TAG: cluster.cluster_name} if eks.is_auto_mode else {},
        ),
    )
    settings = model.eks_settings
    workload = ModelWorkload(
        name,
        ModelWorkloadArgs(
            model=name,
            kubernetes_name=kubernetes_name(request.name_prefix),
            cluster_name=cluster.cluster_name,
            region=stack.region,
            engine=engine,
            engine_image=engine_image,
            engine_args=engine.container_args(model.engine_settings(name, local_path=local_path)),
            worker_image=config.worker_image,
            worker_environment=worker_environment(
                model=name,
                engine=engine,
                region=stack.region,
                queue_url=queue.queue_url,
                results_bucket=shared.results.bucket_name,
                max_in_flight=engine.worker_in_flight(model.max_concurrent_requests),
                drain_seconds=gpu_fleet.WORKER_DRAIN_SECONDS,
                # Container logs carry the metric documents to CloudWatch; no agent in a pod.
                emf_endpoint="stdout",
                # A pod does not reach the node's instance metadata (hop limit 1): Kubernetes
                # tells the worker to stop with SIGTERM.
                instance_metadata=False,
            ),
            weights_s3_uri=shared.weights.bucket_name.apply(lambda b: layout.s3_uri(b, model.model_id, model.revision)),
            weights_local_path=local_path,
            weights_marker=layout.MARKER,
            weights_gib=math.ceil(model.weights_gb) + WEIGHTS_VOLUME_SLACK_GIB,
            policies={
                "queue": queue.consume_policy_json,
                "results": shared.results.write_results_policy_json(name),
                "weights": shared.weights.read_policy_json(prefix_),
            },
            gpus=model.gpu_count,
            # Three quarters of the smallest listed type's memory: the rest is the kubelet's,
            # the system's, the worker's and the copy's.
            engine_memory_limit_gib=math.floor(0.75 * min(t.memory_gib for t in model.instance_catalog)),
            startup_seconds=startup,
            drain_seconds=gpu_fleet.WORKER_DRAIN_SECONDS,
            min_replicas=capacity.min,
            max_replicas=capacity.max,
            queue_url=queue.queue_url,
            queue_length_per_replica=max(1, math.floor(model.backlog_target)),
            keda_operator_role_arn=stack.keda_operator_role_arn,
            target_group_arn=route.target_group_arn,
            target_group_binding_api="eks.amazonaws.com/v1" if eks.is_auto_mode else "elbv2.k8s.aws/v1beta1",
            cluster_security_group_id=cluster.security_group_id,
            load_balancer_security_group_id=balancer.security_group_id,
            vpc_cidr=shared.network.vpc_cidr,
            node_pool=GpuNodePool(
                instance_families=tuple(model.eks_families),
                capacity_types=tuple(settings.capacity_types),
                max_gpus=capacity.max * model.gpu_count,
            )
            if eks.is_auto_mode
            else None,
            crd_dependencies=(stack.keda,) if stack.keda is not None else (),
        ),
        opts=pulumi.ResourceOptions(providers=[cluster.provider]),
    )
    alarms = ModelAlarms(
        name,
        queue_alarms_args(
            request,
            load_balancer_arn_suffix=balancer.arn_suffix,
            target_group_arn_suffix=route.arn_suffix,
            min_healthy_hosts=capacity.min,
            latency_objective_seconds=model.latency_objective_seconds,
            # Scaling out from zero takes a node, the image and a model load.
            slowest_consumer_start_seconds=max(startup, model.max_generation_seconds),
        ),
    )
    row = PodsDashboardRow(
        name=name,
        load_balancer_arn_suffix=balancer.arn_suffix,
        target_group_arn_suffix=route.arn_suffix,
        queue_name=queue.queue_name,
        dead_letter_queue_name=queue.dead_letter_queue_name,
    )
    return ModelDeployment(
        alarm_names=alarms.alarm_names,
        dashboard_row=row,
        exports={
            "url": balancer.url(route.path_prefix),
            "clusterName": cluster.cluster_name,
            "namespace": workload.namespace,
            "deployment": workload.deployment_name,
            "podRole": workload.role_arn,
        },
    )
