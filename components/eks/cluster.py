"""The stack's EKS cluster: an existing one looked up by name, or an Auto Mode one created
here; and the Kubernetes provider that reaches it.

Creates (``create``): a cluster role (AWS's five Auto Mode policies), a node role (minimal
worker and ECR pull-only), and an ``aws.eks.Cluster`` with Auto Mode's compute, load
balancing and block storage all enabled, self-managed add-ons off (Auto Mode runs its own),
API authentication, the deployer as cluster admin, and control-plane logs.
Reads (existing): the cluster's endpoint, certificate, VPC and cluster security group.
Both: a ``kubernetes`` provider whose kubeconfig runs ``aws eks get-token`` for every call,
so no token is ever kept in the Pulumi state (docs/reference.md#eks).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _policy
from components.eks import DEFAULT_KUBERNETES_VERSION

CLUSTER_POLICIES = (
    "AmazonEKSClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
)
"""What an Auto Mode cluster's role needs (EKS User Guide, "Amazon EKS Auto Mode cluster IAM role")."""
NODE_POLICIES = ("AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly")
"""What an Auto Mode node's role needs ("Amazon EKS Auto Mode node IAM role")."""
BUILT_IN_NODE_POOLS = ("general-purpose", "system")
"""Auto Mode's own pools (CPU, on-demand): the cluster's add-ons and KEDA run there."""
CONTROL_PLANE_LOGS = ("api", "audit", "authenticator")
"""Who did what to the cluster, kept in CloudWatch Logs."""


@dataclass(frozen=True, kw_only=True)
class CreatedCluster:
    """An Auto Mode cluster the stack creates in its own network."""

    subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets (at least two AZs) for the control plane's interfaces and the nodes."""
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION


@dataclass(frozen=True, kw_only=True)
class EksClusterArgs:
    cluster: CreatedCluster | str
    """A cluster to create, or the name of an existing one."""
    region: pulumi.Input[str]
    """For ``aws eks get-token``."""


class EksCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    vpc_id: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    """The cluster security group: EKS puts it on every node and Auto Mode pod, so the load
    balancer's rule to the pods targets it."""
    provider: k8s.Provider
    """The Kubernetes provider every object of the cluster is declared with."""
    created: aws.eks.Cluster | None
    """Escape hatch: the cluster, when the stack creates it."""

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:EksCluster", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        if isinstance(args.cluster, CreatedCluster):
            cluster = self._create(args.cluster)
            self.created = cluster
            self.cluster_name = cluster.name
            endpoint = cluster.endpoint
            ca = cluster.certificate_authority.apply(lambda c: c.data or "")
            self.vpc_id = cluster.vpc_config.apply(lambda v: v.vpc_id or "")
            self.security_group_id = cluster.vpc_config.apply(lambda v: v.cluster_security_group_id or "")
        else:
            self.created = None
            found = aws.eks.get_cluster_output(name=args.cluster, opts=pulumi.InvokeOptions(parent=self))
            self.cluster_name = found.name
            endpoint = found.endpoint
            ca = found.certificate_authorities.apply(lambda c: c[0].data)
            self.vpc_id = found.vpc_config.apply(lambda v: v.vpc_id)
            self.security_group_id = found.vpc_config.apply(lambda v: v.cluster_security_group_id)
        kubeconfig = pulumi.Output.all(self.cluster_name, endpoint, ca, args.region).apply(
            lambda v: kubeconfig_json(name=v[0], endpoint=v[1], certificate_authority=v[2], region=v[3])
        )
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, opts=child)
        self.register_outputs({"cluster_name": self.cluster_name, "vpc_id": self.vpc_id})

    def _create(self, c: CreatedCluster) -> aws.eks.Cluster:
        child = pulumi.ResourceOptions(parent=self)
        cluster_role = aws.iam.Role(
            f"{self._name}-cluster",
            assume_role_policy=_policy.assume_role_policy("eks.amazonaws.com", tag_session=True),
            opts=child,
        )
        node_role = aws.iam.Role(
            f"{self._name}-node", assume_role_policy=_policy.assume_role_policy("ec2.amazonaws.com"), opts=child
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{self._name}-{role_name}-{policy}",
                role=role.name,
                policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                opts=child,
            )
            for role_name, role, policies in (
                ("cluster", cluster_role, CLUSTER_POLICIES),
                ("node", node_role, NODE_POLICIES),
            )
            for policy in policies
        ]
        return aws.eks.Cluster(
            f"{self._name}-cluster",
            version=c.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=c.subnet_ids, endpoint_private_access=True, endpoint_public_access=True
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            bootstrap_self_managed_addons=False,
            compute_config=aws.eks.ClusterComputeConfigArgs(
                enabled=True, node_pools=list(BUILT_IN_NODE_POOLS), node_role_arn=node_role.arn
            ),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                elastic_load_balancing=aws.eks.ClusterKubernetesNetworkConfigElasticLoadBalancingArgs(enabled=True)
            ),
            storage_config=aws.eks.ClusterStorageConfigArgs(
                block_storage=aws.eks.ClusterStorageConfigBlockStorageArgs(enabled=True)
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOGS),
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )


def kubeconfig_json(*, name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig for one cluster whose credentials come from ``aws eks get-token`` on each
    use (kubectl's exec plugin), never from a token written into it."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": name, "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority}}
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                name,
                                "--region",
                                region,
                                "--output",
                                "json",
                            ],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )
