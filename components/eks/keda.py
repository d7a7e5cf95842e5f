"""KEDA on the cluster: the operator that scales each model's Deployment on its SQS queue.

Creates: the ``keda`` namespace, the operator's IAM role with an EKS Pod Identity
association for its service account (``keda-operator``), and the pinned Helm chart.
Each model's role trusts the operator's role: KEDA assumes it (``TriggerAuthentication``
``podIdentity.roleArn``) to read only that model's queue length.

Under the offline plan the chart is one resource with its inputs: nothing is fetched or
rendered (docs/reference.md#eks); ``pulumi preview`` fetches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import _policy
from components.eks import KEDA_CHART_VERSION as CHART_VERSION

CHART_REPOSITORY = "https://kedacore.github.io/charts"
NAMESPACE = "keda"
OPERATOR_SERVICE_ACCOUNT = "keda-operator"
"""The chart's default name of the operator's service account."""


POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
"""EKS Pod Identity: it assumes a pod's role and tags the session."""


@dataclass(frozen=True, kw_only=True)
class KedaArgs:
    cluster_name: pulumi.Input[str]
    chart_version: str = CHART_VERSION


class Keda(pulumi.ComponentResource):
    operator_role_arn: pulumi.Output[str]
    """The operator's IAM role, which each model's role trusts."""

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:k8s:Keda", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-operator",
            assume_role_policy=_policy.assume_role_policy(POD_IDENTITY_SERVICE, tag_session=True),
            opts=child,
        )
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels={"app.kubernetes.io/managed-by": "pulumi"}),
            opts=child,
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-operator",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=OPERATOR_SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=child,
        )
        k8s.helm.v3.Release(
            f"{name}-chart",
            name="keda",
            chart="keda",
            version=args.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=NAMESPACE,
            # Wait for the operator and its CRDs, so ScaledObjects declared after it apply.
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, association]),
        )
        self.operator_role_arn = role.arn
        self.register_outputs({"operator_role_arn": self.operator_role_arn})
