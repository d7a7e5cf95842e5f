"""One model on an EKS cluster: its pods, their AWS identity, scaling and traffic.

Creates:
- AWS: the pods' IAM role (EKS Pod Identity; the model's queue, results prefix and weights
  prefix only, trusted also by the KEDA operator to read the queue's length), its Pod
  Identity association, and the rule that lets the load balancer reach the pods on the
  engine port (the cluster security group);
- Kubernetes: a namespace, a service account, a GPU NodePool of the model's families on
  Auto Mode, a Deployment, a ClusterIP Service, a PodDisruptionBudget, a KEDA
  TriggerAuthentication and ScaledObject, and a TargetGroupBinding that registers the pods
  in the model's ``ip`` target group.

The pod: an init container copies the staged weights from S3; the engine runs as a native
sidecar (an init container with ``restartPolicy: Always``): Kubernetes starts it before the
worker, holds the worker until the engine's startup probe passes, and stops it only after
the worker has exited. So on SIGTERM the worker stops receiving and drains while the engine
still serves, then the engine gets its own graceful stop (docs/reference.md#eks).

Defaults: zone spread (best effort, so one AZ short of spot does not block scaling), at most
one pod disrupted at a time, rolling updates that add a pod before removing one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _policy
from components.eks.keda import POD_IDENTITY_SERVICE
from components.load_balancer import HEALTH_CHECK_INTERVAL_SECONDS, UNHEALTHY_THRESHOLD
from model_server.engines import Engine

AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.27.49"
"""Copies the weights. AWS's own image, pinned by tag (a new CLI is a reviewed change), from
ECR Public (no Docker Hub rate limits); Pod Identity credentials need AWS CLI 2.15 or newer
(docs/reference.md#eks)."""
PROBE_PERIOD_SECONDS = 10
STOP_MARGIN_SECONDS = 15
"""Past the worker's drain and the engine's graceful stop: the final metrics flush, the
release of what did not fit, and the kubelet's own signalling."""
POLLING_INTERVAL_SECONDS = 30
COOLDOWN_SECONDS = 300
"""KEDA's defaults: the queue is read every 30 s; the last pod goes (to zero) 5 minutes after
the queue empties."""
WORKER_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
"""The worker is I/O bound: a quarter core; its memory holds messages in flight."""
FETCH_RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
"""The weights copy: one core for the CLI's parallel transfers."""
ENGINE_CPU_REQUEST = "2"
ENGINE_MEMORY_REQUEST_GIB = 8
"""Host memory the engine asks for: the weights go to the GPU (memory-mapped on the way), the
host keeps the tokenizer, the CUDA context and Python."""
WORKER_UID = 10001
"""The worker image's own user (model_server/Dockerfile: USER 10001)."""
LOCKED_DOWN = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
"""Every container: no privilege escalation, no Linux capability (none needs one)."""
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
NODE_CLASS = {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"}
"""Auto Mode's built-in NodeClass."""
CONSOLIDATE_AFTER = "5m"
"""An empty GPU node goes 5 minutes after its last pod (a scale-to-zero ends the bill soon,
a brief dip does not churn GPU nodes)."""


def _wire(value: dict[str, Any]) -> Any:
    """A Kubernetes object's part as a plain dict in its wire form (camelCase, as the
    Kubernetes docs and the YAML a reader knows spell it), not pulumi_kubernetes' typed args."""
    return value


TargetGroupBindingApi = Literal["eks.amazonaws.com/v1", "elbv2.k8s.aws/v1beta1"]


@dataclass(frozen=True, kw_only=True)
class GpuNodePool:
    """An Auto Mode NodePool for the model's pods only (nodeSelector on its name)."""

    instance_families: Sequence[str]
    capacity_types: Sequence[str] = ("spot", "on-demand")
    max_gpus: int
    """Ceiling of the pool's GPUs: the cost bound (max replicas x GPUs per pod)."""


@dataclass(frozen=True, kw_only=True)
class ModelWorkloadArgs:
    model: str
    kubernetes_name: str
    """Name of the namespace, Deployment and cluster-wide objects (NodePool):
    ``llm-<stack>-<model>``, so stacks sharing a cluster never collide."""
    cluster_name: pulumi.Input[str]
    region: pulumi.Input[str]
    engine: Engine
    engine_image: str
    engine_args: Sequence[str]
    worker_image: str
    worker_environment: Mapping[str, pulumi.Input[str]]
    weights_s3_uri: pulumi.Input[str]
    weights_local_path: str
    """Where the engine reads the weights (``engine_args`` name it)."""
    weights_marker: str
    """The key the stager writes last: the copy refuses a prefix without it."""
    weights_gib: int
    """Size of the weights volume."""
    policies: Mapping[str, pulumi.Input[str]]
    """The pods' IAM policies by name (queue, results, weights): nothing else."""
    gpus: int
    engine_memory_limit_gib: int
    """The engine's memory limit: what the smallest of the model's instance types leaves beside
    the kubelet, the worker and the weights copy."""
    startup_seconds: int
    """How long the engine may take to load (the EC2 grace estimate): the startup probe's budget."""
    drain_seconds: int
    """The worker's drain budget on SIGTERM."""
    min_replicas: int = 0
    max_replicas: int = 2
    queue_url: pulumi.Input[str]
    queue_length_per_replica: int
    keda_operator_role_arn: pulumi.Input[str]
    target_group_arn: pulumi.Input[str]
    target_group_binding_api: TargetGroupBindingApi
    cluster_security_group_id: pulumi.Input[str]
    load_balancer_security_group_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    """Where the load balancer's nodes are: the only source the pods' network policy admits."""
    node_pool: GpuNodePool | None = None
    """None on a cluster without Auto Mode: its own GPU nodes (and NVIDIA device plugin) serve."""
    crd_dependencies: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What installs KEDA's CRDs when the stack does (the Helm release)."""

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 0 <= min_replicas <= max_replicas")
        if self.queue_length_per_replica < 1:
            raise ValueError("queue_length_per_replica must be at least 1")

    @property
    def startup_failure_threshold(self) -> int:
        return math.ceil(self.startup_seconds / PROBE_PERIOD_SECONDS)

    @property
    def termination_grace_seconds(self) -> int:
        """The worker drains, then the engine stops gracefully, in turn."""
        return self.drain_seconds + self.engine.graceful_stop_seconds + STOP_MARGIN_SECONDS


class ModelWorkload(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    """The pods' IAM role (and KEDA's for the queue length)."""
    deployment_name: str
    namespace: str

    def __init__(self, name: str, args: ModelWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:k8s:ModelWorkload", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        k = args.kubernetes_name
        self.namespace = k
        self.deployment_name = k
        self._labels = {
            "app.kubernetes.io/name": "llm-serving",
            "app.kubernetes.io/instance": k,
            "app.kubernetes.io/component": "model",
            "app.kubernetes.io/managed-by": "pulumi",
            "llm-serving/model": args.model,
        }
        self._selector = {"app.kubernetes.io/name": "llm-serving", "app.kubernetes.io/instance": k}
        self.node_labels = {"llm-serving/model": args.model, "llm-serving/instance": k}
        """Labels of the model's GPU nodes (the NodePool's template)."""
        role = self._role()
        namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata=self._meta(namespaced=False), opts=child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        account = k8s.core.v1.ServiceAccount(f"{name}-account", metadata=self._meta(), opts=in_namespace)
        aws.eks.PodIdentityAssociation(
            f"{name}-pods",
            cluster_name=args.cluster_name,
            namespace=k,
            service_account=k,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        if args.node_pool is not None:
            self._node_pool(args.node_pool)
        self._deployment(in_namespace)
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=self._meta(),
            spec=_wire(
                {
                    "type": "ClusterIP",
                    "selector": self._selector,
                    "ports": [
                        {"name": "http", "port": args.engine.port, "targetPort": args.engine.port, "protocol": "TCP"}
                    ],
                }
            ),
            opts=in_namespace,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-disruption",
            metadata=self._meta(),
            spec=_wire({"maxUnavailable": 1, "selector": {"matchLabels": self._selector}}),
            opts=in_namespace,
        )
        self._scaling(role, in_namespace)
        self._traffic(in_namespace)
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})

    def _meta(self, *, namespaced: bool = True) -> Any:
        meta: dict[str, Any] = {"name": self._args.kubernetes_name, "labels": self._labels}
        if namespaced:
            meta["namespace"] = self._args.kubernetes_name
        return meta

    # ---------------------------------------------------------------------- identity

    def _role(self) -> aws.iam.Role:
        a = self._args
        # Pods get the role through EKS Pod Identity; KEDA's operator assumes it to read the
        # queue's length (same account: naming the operator's role here is enough).
        trust = pulumi.Output.from_input(a.keda_operator_role_arn).apply(
            lambda keda: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        _policy.service_trust(POD_IDENTITY_SERVICE, tag_session=True),
                        {"Effect": "Allow", "Principal": {"AWS": keda}, "Action": "sts:AssumeRole"},
                    ],
                },
                sort_keys=True,
            )
        )
        role = aws.iam.Role(f"{self._name}-pods", assume_role_policy=trust, opts=pulumi.ResourceOptions(parent=self))
        _policy.role_policies(self._name, role, a.policies, pulumi.ResourceOptions(parent=self))
        return role

    # ------------------------------------------------------------------------- nodes

    def _node_pool(self, pool: GpuNodePool) -> None:
        k8s.apiextensions.CustomResource(
            f"{self._name}-nodes",
            api_version="karpenter.sh/v1",
            kind="NodePool",
            metadata=self._meta(namespaced=False),
            spec={
                "template": {
                    # Node labels: Karpenter refuses kubernetes.io and k8s.io domains (app.kubernetes.io
                    # included) but for its well-known ones, so the nodes carry the stack's own.
                    "metadata": {"labels": self.node_labels},
                    "spec": {
                        "nodeClassRef": NODE_CLASS,
                        "requirements": [
                            {
                                "key": "eks.amazonaws.com/instance-family",
                                "operator": "In",
                                "values": list(pool.instance_families),
                            },
                            {
                                "key": "karpenter.sh/capacity-type",
                                "operator": "In",
                                "values": list(pool.capacity_types),
                            },
                            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        ],
                        # Only pods that tolerate it (GPU pods) land on these nodes.
                        "taints": [{"key": GPU_RESOURCE, "effect": "NoSchedule"}],
                    },
                },
                "limits": {GPU_RESOURCE: pool.max_gpus},
                "disruption": {
                    "consolidationPolicy": "WhenEmpty",
                    "consolidateAfter": CONSOLIDATE_AFTER,
                    "budgets": [{"nodes": "10%"}],
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    # ------------------------------------------------------------------------- pods

    def _deployment(self, opts: pulumi.ResourceOptions) -> None:
        a = self._args
        engine = a.engine
        gpus = {GPU_RESOURCE: a.gpus}
        weights_volume = {"name": "weights", "mountPath": engine.model_cache_dir}
        fetch = {
            "name": "fetch-weights",
            "image": AWS_CLI_IMAGE,
            "command": ["/bin/sh", "-c"],
            # A prefix without the stager's marker is incomplete: refuse it (the pod retries).
            # sync, not cp --recursive: a restarted init container keeps what it copied.
            "args": [
                'aws s3 cp "$WEIGHTS_URI$WEIGHTS_MARKER" /dev/null --only-show-errors'
                ' && aws s3 sync "$WEIGHTS_URI" "$WEIGHTS_PATH" --only-show-errors'
            ],
            "env": [
                {"name": "AWS_REGION", "value": a.region},
                {"name": "WEIGHTS_URI", "value": a.weights_s3_uri},
                {"name": "WEIGHTS_MARKER", "value": a.weights_marker},
                {"name": "WEIGHTS_PATH", "value": a.weights_local_path},
            ],
            "volumeMounts": [weights_volume],
            "resources": FETCH_RESOURCES,
            "securityContext": LOCKED_DOWN,
        }
        probe = {"httpGet": {"path": engine.readiness_path, "port": engine.port}, "periodSeconds": PROBE_PERIOD_SECONDS}
        engine_container = {
            "name": "engine",
            "image": a.engine_image,
            "command": [engine.entrypoint],
            "args": list(a.engine_args),
            # Native sidecar: started before the worker, stopped after it.
            "restartPolicy": "Always",
            "ports": [{"name": "http", "containerPort": engine.port, "protocol": "TCP"}],
            "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
            "startupProbe": {**probe, "failureThreshold": a.startup_failure_threshold},
            "readinessProbe": {**probe, "failureThreshold": 3},
            # As tolerant as the load balancer's check: TGI's /health flaps under load.
            "livenessProbe": {
                **probe,
                "periodSeconds": HEALTH_CHECK_INTERVAL_SECONDS,
                "failureThreshold": UNHEALTHY_THRESHOLD,
            },
            "resources": {
                "requests": {
                    **gpus,
                    "cpu": ENGINE_CPU_REQUEST,
                    "memory": f"{min(ENGINE_MEMORY_REQUEST_GIB, a.engine_memory_limit_gib)}Gi",
                },
                "limits": {**gpus, "memory": f"{a.engine_memory_limit_gib}Gi"},
            },
            "volumeMounts": [weights_volume, {"name": "shm", "mountPath": "/dev/shm"}],
            "securityContext": LOCKED_DOWN,
        }
        worker = {
            "name": "worker",
            "image": a.worker_image,
            "env": [{"name": k, "value": v} for k, v in a.worker_environment.items()],
            "resources": WORKER_RESOURCES,
            # It writes nothing but stdout; its image runs as an unprivileged user.
            "securityContext": {
                **LOCKED_DOWN,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "runAsUser": WORKER_UID,
                "runAsGroup": WORKER_UID,
            },
        }
        pod_spec: dict[str, Any] = {
            "serviceAccountName": a.kubernetes_name,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "terminationGracePeriodSeconds": a.termination_grace_seconds,
            "initContainers": [fetch, engine_container],
            "containers": [worker],
            "tolerations": [GPU_TAINT],
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": self._selector},
                }
            ],
            "volumes": [
                {"name": "weights", "emptyDir": {"sizeLimit": f"{a.weights_gib}Gi"}},
                {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{engine.shm_size_gib}Gi"}},
            ],
        }
        if a.node_pool is not None:
            pod_spec["nodeSelector"] = {"karpenter.sh/nodepool": a.kubernetes_name}
        k8s.apps.v1.Deployment(
            f"{self._name}-deployment",
            metadata=self._meta(),
            # No replicas: KEDA owns them (a replicas field here would fight it on every deploy).
            spec=_wire(
                {
                    "selector": {"matchLabels": self._selector},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                    # A new pod may wait for a node, pull the image and load the model.
                    "progressDeadlineSeconds": a.startup_seconds + 600,
                    "template": {"metadata": {"labels": self._labels}, "spec": pod_spec},
                }
            ),
            opts=opts,
        )

    # ----------------------------------------------------------------------- scaling

    def _scaling(self, role: aws.iam.Role, opts: pulumi.ResourceOptions) -> None:
        a = self._args
        crd_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(a.crd_dependencies)))
        k8s.apiextensions.CustomResource(
            f"{self._name}-queue-auth",
            api_version="keda.sh/v1alpha1",
            kind="TriggerAuthentication",
            metadata=self._meta(),
            spec={"podIdentity": {"provider": "aws", "roleArn": role.arn}},
            opts=crd_opts,
        )
        k8s.apiextensions.CustomResource(
            f"{self._name}-scaling",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=self._meta(),
            spec={
                "scaleTargetRef": {"name": self.deployment_name},
                "minReplicaCount": a.min_replicas,
                "maxReplicaCount": a.max_replicas,
                "pollingInterval": POLLING_INTERVAL_SECONDS,
                "cooldownPeriod": COOLDOWN_SECONDS,
                "triggers": [
                    {
                        "type": "aws-sqs-queue",
                        # KEDA reads trigger metadata as strings. It counts visible and in-flight
                        # messages: the backlog plus what the workers hold, as on EC2.
                        "metadata": {
                            "queueURL": a.queue_url,
                            "queueLength": str(a.queue_length_per_replica),
                            "activationQueueLength": "0",
                            "awsRegion": a.region,
                        },
                        "authenticationRef": {"name": a.kubernetes_name},
                    }
                ],
            },
            opts=crd_opts,
        )

    # ----------------------------------------------------------------------- traffic

    def _traffic(self, opts: pulumi.ResourceOptions) -> None:
        a = self._args
        spec: dict[str, Any] = {
            "targetGroupARN": a.target_group_arn,
            "targetType": "ip",
            "serviceRef": {"name": a.kubernetes_name, "port": a.engine.port},
        }
        k8s.apiextensions.CustomResource(
            f"{self._name}-binding",
            api_version=a.target_group_binding_api,
            kind="TargetGroupBinding",
            metadata=self._meta(),
            spec=spec,
            opts=opts,
        )
        # Only the engine port admits traffic, and only from the VPC (the load balancer's nodes);
        # enforced where the cluster runs a network policy engine (docs/reference.md#eks).
        k8s.networking.v1.NetworkPolicy(
            f"{self._name}-ingress",
            metadata=self._meta(),
            spec=_wire(
                {
                    "podSelector": {"matchLabels": self._selector},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [{"ipBlock": {"cidr": a.vpc_cidr}}],
                            "ports": [{"protocol": "TCP", "port": a.engine.port}],
                        }
                    ],
                }
            ),
            opts=opts,
        )
        # Auto Mode's binding takes no networking rules: the stack opens the engine port to the
        # load balancer itself (and does so on the controller's clusters too, for one shape).
        aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-from-alb",
            security_group_id=a.cluster_security_group_id,
            referenced_security_group_id=a.load_balancer_security_group_id,
            ip_protocol="tcp",
            from_port=a.engine.port,
            to_port=a.engine.port,
            description=f"load balancer to the engine pods of {a.model}",
            opts=pulumi.ResourceOptions(parent=self),
        )
