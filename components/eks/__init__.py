"""The EKS backend's components: the cluster (created or existing) with its Kubernetes
provider and GPU node pool, KEDA, and each model's workload. Only this folder imports
pulumi_kubernetes (and only when a stack has an EKS model), so other stacks plan as fast."""

DEFAULT_KUBERNETES_VERSION = "1.35"
"""Kubernetes of a cluster the stack creates: the newest EKS version, in standard support
until 2027-03 (EKS supports a version 14 months from its release, 2026-01-28;
docs/reference.md#eks). Native sidecars, which the workload relies on, are GA since 1.33."""
