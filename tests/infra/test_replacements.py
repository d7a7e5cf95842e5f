"""The replacement table: it covers every type the stacks declare, and the known facts hold."""

from __future__ import annotations

import pulumi_aws
import pytest

from infra.plan import Plan
from infra.replacements import (
    DECIDED_BY_PROVIDER_DIFF,
    REPLACE_IF,
    REPLACE_ON_CHANGE,
    DecidedByProviderDiff,
    classified_types,
    forces_replacement,
    may_force_replacement,
)

ABOUT_TO_BE_ADDED = {
    "aws:autoscaling/lifecycleHook:LifecycleHook",
    "aws:cloudwatch/compositeAlarm:CompositeAlarm",
    "aws:ssm/parameter:Parameter",
    "aws:kms/alias:Alias",
    "pulumi-python:dynamic:Resource",
}

ASG = "aws:autoscaling/group:Group"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
QUEUE = "aws:sqs/queue:Queue"


def _provider_types(plan: Plan) -> set[str]:
    """Types backed by a provider: component resources (``llm-serving:...``) have none."""
    return {r.type for r in plan.resources if r.custom}


@pytest.mark.parametrize("stack", ["dev", "prod", "eks_existing", "eks_created"])
def test_every_declared_type_is_classified(stack: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    missing = _provider_types(plan) - classified_types()
    assert not missing, f"classify these in infra/replacements.py: {sorted(missing)}"


def test_types_about_to_be_added_are_classified() -> None:
    assert classified_types() >= ABOUT_TO_BE_ADDED


def test_component_types_are_not_in_the_table(dev_plan: Plan) -> None:
    components = {r.type for r in dev_plan.resources if not r.custom}
    assert components, "the dev plan declares components"
    assert all(t.startswith("llm-serving:") for t in components)
    assert not components & classified_types()


def _args_class(type_token: str) -> type:
    """The pulumi_aws input args class of a type token, e.g. ``autoscaling.GroupArgs``."""
    _, module, name = type_token.split(":")
    package = module.split("/")[0]
    # Through the package, as the program imports it: importing a resource's own submodule
    # first breaks pulumi_aws's lazy loading for every later test in the process.
    mod = getattr(pulumi_aws, package) if package != "index" else pulumi_aws
    # A resource whose name clashes with a nested input type has its args as ``...InitArgs``.
    cls = getattr(mod, name + "InitArgs", None) or getattr(mod, name + "Args")
    assert isinstance(cls, type)
    return cls


def _wire_names(cls: type) -> set[str]:
    return {getattr(v.fget, "_pulumi_name", k) for k, v in vars(cls).items() if isinstance(v, property)}


@pytest.mark.parametrize("type_token", sorted(t for t in REPLACE_ON_CHANGE if t.startswith("aws:")))
def test_entries_are_real_pulumi_inputs(type_token: str) -> None:
    inputs = _wire_names(_args_class(type_token))
    paths = set(REPLACE_ON_CHANGE[type_token]) | set(REPLACE_IF.get(type_token, {}))
    unknown = {p for p in paths if p.split(".")[0] not in inputs}
    assert not unknown, f"{type_token}: not inputs of pulumi_aws 7.51.1: {sorted(unknown)}"


def test_iam_is_global_and_regional_types_replace_on_region() -> None:
    for type_token, paths in REPLACE_ON_CHANGE.items():
        if not type_token.startswith("aws:"):
            continue  # Kubernetes objects live in a cluster, not a region
        assert ("region" in paths) == (not type_token.startswith("aws:iam/")), type_token


def test_auto_scaling_group() -> None:
    assert forces_replacement(ASG, "initialLifecycleHooks")
    assert forces_replacement(ASG, "namePrefix")
    assert forces_replacement(ASG, "name")
    in_place = ("maxSize", "minSize", "desiredCapacity", "launchTemplate.version", "tags", "vpcZoneIdentifiers")
    assert {p.split(".")[0] for p in in_place} <= _wire_names(_args_class(ASG)), "real inputs, not typos"
    for path in in_place:
        assert not forces_replacement(ASG, path), path
    assert not forces_replacement(ASG, "mixedInstancesPolicy.instancesDistribution.onDemandBaseCapacity")


def test_launch_template_user_data_makes_a_new_version() -> None:
    assert not forces_replacement(LAUNCH_TEMPLATE, "userData")
    assert not forces_replacement(LAUNCH_TEMPLATE, "imageId")
    assert forces_replacement(LAUNCH_TEMPLATE, "namePrefix")


def test_subnet_and_security_group() -> None:
    assert forces_replacement(SUBNET, "cidrBlock")
    assert forces_replacement(SUBNET, "availabilityZone")
    assert not forces_replacement(SUBNET, "mapPublicIpOnLaunch")
    assert forces_replacement(SECURITY_GROUP, "description")
    assert not forces_replacement(SECURITY_GROUP, "ingress")


def test_sqs_queue() -> None:
    assert forces_replacement(QUEUE, "name")
    assert forces_replacement(QUEUE, "fifoQueue")
    assert not forces_replacement(QUEUE, "visibilityTimeoutSeconds")
    assert not forces_replacement(QUEUE, "redrivePolicy")


def test_nested_paths_and_list_indices() -> None:
    # An entry covers everything under it, whatever the index notation.
    for path in (
        "initialLifecycleHooks[0].heartbeatTimeout",
        "initialLifecycleHooks.0.heartbeatTimeout",
        "initialLifecycleHooks[12]",
    ):
        assert forces_replacement(ASG, path), path
    assert not forces_replacement(ASG, "tags[3].value")
    assert not forces_replacement(ASG, "instanceRefresh.preferences.minHealthyPercentage")
    bucket = "aws:s3/bucket:Bucket"
    assert forces_replacement(bucket, "objectLockConfiguration.objectLockEnabled")
    assert not forces_replacement(bucket, "objectLockConfiguration.rule.defaultRetention.days")
    # A change to a whole block may change the entry inside it.
    assert forces_replacement(bucket, "objectLockConfiguration")
    assert forces_replacement("aws:ec2/flowLog:FlowLog", "destinationOptions.fileFormat")


def test_conditional_replacements_are_apart() -> None:
    parameter = "aws:ssm/parameter:Parameter"
    assert not forces_replacement(parameter, "tier")
    assert may_force_replacement(parameter, "tier")
    assert may_force_replacement(parameter, "name")
    assert not may_force_replacement(parameter, "value")
    assert not forces_replacement("aws:lb/loadBalancer:LoadBalancer", "subnets")
    assert may_force_replacement("aws:lb/loadBalancer:LoadBalancer", "subnets")


def test_unknown_types_raise() -> None:
    with pytest.raises(KeyError):
        forces_replacement("aws:ec2/instance:Instance", "ami")
    with pytest.raises(KeyError):
        may_force_replacement("aws:rds/instance:Instance", "engine")


def test_dynamic_resources_are_decided_by_their_provider() -> None:
    assert "pulumi-python:dynamic:Resource" in DECIDED_BY_PROVIDER_DIFF
    with pytest.raises(DecidedByProviderDiff):
        forces_replacement("pulumi-python:dynamic:Resource", "anything")
    # Still a KeyError, so a caller treating KeyError as "not known safe" stays safe.
    assert issubclass(DecidedByProviderDiff, KeyError)


def test_empty_path_is_an_error() -> None:
    with pytest.raises(ValueError):
        forces_replacement(ASG, "")
    with pytest.raises(ValueError):
        forces_replacement(ASG, "[0]")


KUBERNETES_INPUTS = {"metadata", "spec", "name", "namespace"}
"""What the program sets on Kubernetes objects (and a Helm release): the table's paths start there."""


@pytest.mark.parametrize("type_token", sorted(t for t in REPLACE_ON_CHANGE if t.startswith("kubernetes:")))
def test_kubernetes_entries_name_what_the_program_sets(type_token: str) -> None:
    paths = REPLACE_ON_CHANGE[type_token]
    assert paths and {p.split(".")[0] for p in paths} <= KUBERNETES_INPUTS
    if type_token != "kubernetes:helm.sh/v3:Release":
        assert "metadata.name" in paths  # an object is its name


def test_a_deployments_selector_and_an_eks_clusters_role_replace_them() -> None:
    assert forces_replacement("kubernetes:apps/v1:Deployment", "spec.selector")
    assert not forces_replacement("kubernetes:apps/v1:Deployment", "spec.template")
    assert forces_replacement("aws:eks/cluster:Cluster", "roleArn")
    assert not forces_replacement("aws:eks/cluster:Cluster", "version")
