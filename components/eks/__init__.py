"""The EKS backend's components: the cluster (created or existing) with its Kubernetes
provider and GPU node pool, KEDA, and each model's workload. Only this folder imports
pulumi_kubernetes (and only when a stack has an EKS model), so other stacks plan as fast."""

DEFAULT_KUBERNETES_VERSION = "1.35"
"""Kubernetes of a cluster the stack creates: the newest EKS version, in standard support
until 2027-03 (EKS supports a version 14 months from its release, 2026-01-28;
docs/reference.md#eks). Native sidecars, which the workload relies on, are GA since 1.33."""
KEDA_CHART_VERSION = "2.20.2"
"""Pinned, so a deploy never upgrades KEDA (and its CRDs) by surprise: 2.20.2, the release
whose CRDs the tests validate the ScaledObjects against (tests/crds/README.md), tested by KEDA
on Kubernetes 1.33 to 1.35 (``KEDA_KUBERNETES_VERSIONS``; docs/reference.md#eks). A new version is a
reviewed change: move the CRDs and the window with it."""
KEDA_KUBERNETES_VERSIONS = ("1.33", "1.34", "1.35")
"""The Kubernetes versions KEDA tests KEDA_CHART_VERSION on (keda.sh, "Cluster", Kubernetes
compatibility: v2.20, v1.33 - v1.35)."""
