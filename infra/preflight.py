"""Checks only the AWS account can answer, run by the program before it declares anything.

The config schema checks what can be known offline. Some limits depend on the account and
region: how many AZs it offers, where an existing subnet is, whether an AMI or an endpoint
service exists there. ``pulumi preview`` and ``pulumi up`` run the program, and these
lookups (read-only data sources) run first, so a stack that AWS would refuse halfway
through stops before a single resource is created, with the key and the fix.

The offline plan answers the lookups from its mocks (every AZ, subnet and AMI exists), so
it passes them; tests give the mocks other answers to prove each check.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi_aws as aws

from infra.config import NAMESPACE, ConfigError, StackConfig, certificate_region_problem


def check(config: StackConfig) -> None:
    """Raise ``ConfigError`` naming every key the account contradicts."""
    region = str(aws.get_region().region)
    problems: list[str] = []
    for rule in _RULES:
        problems += rule(config, region)
    if problems:
        raise ConfigError(problems)


def _zones(config: StackConfig, region: str) -> list[str]:
    if config.network.existing is not None:
        return []
    names = list(aws.get_availability_zones(state="available").names)
    wanted = config.network.availability_zones
    if wanted <= len(names):
        return []
    return [
        f"{NAMESPACE}:network.availabilityZones: {wanted}, but {region} offers this account {len(names)} "
        f"({', '.join(names)}); lower it to {len(names)} or fewer"
    ]


def _subnets(config: StackConfig, region: str) -> list[str]:
    existing = config.network.existing
    if existing is None:
        return []
    problems = []
    lists = [("privateSubnetIds", existing.private_subnet_ids)]
    if not config.load_balancer.internal:
        lists.append(("publicSubnetIds", existing.public_subnet_ids))
    for key, ids in lists:
        subnets = [aws.ec2.get_subnet(id=subnet) for subnet in ids]
        for i, subnet in enumerate(subnets):
            if subnet.vpc_id != existing.vpc_id:
                problems.append(
                    f"{NAMESPACE}:network.existing.{key}[{i}]: {ids[i]} is in {subnet.vpc_id}, not in "
                    f"{existing.vpc_id}; list subnets of that VPC"
                )
        first_in: dict[str, int] = {}
        for i, subnet in enumerate(subnets):
            zone = str(subnet.availability_zone)
            if zone in first_in:
                problems.append(
                    f"{NAMESPACE}:network.existing.{key}[{i}]: {ids[i]} is in {zone} like {ids[first_in[zone]]}; "
                    "list one subnet per AZ (a load balancer takes one per AZ, and two in one AZ are no "
                    "protection against its loss)"
                )
            else:
                first_in[zone] = i
    return problems


def _certificate(config: StackConfig, region: str) -> list[str]:
    # The config checked it against the region it knew; the provider's region may differ.
    problem = certificate_region_problem(config.load_balancer.certificate_arn, region)
    return [f"{NAMESPACE}:loadBalancer.certificateArn: {problem}"] if problem else []


def _ami(config: StackConfig, region: str) -> list[str]:
    ami = config.ec2.ami_id
    if ami is None:
        return []
    found = aws.ec2.get_ami_ids(
        owners=["amazon", "self"], filters=[aws.ec2.GetAmiIdsFilterArgs(name="image-id", values=[ami])]
    ).ids
    if found:
        return []
    return [
        f"{NAMESPACE}:ec2.amiId: {ami} is not an AMI of Amazon or of this account in {region}; AMI ids differ "
        f"per region: `llm-serving ami latest STACK` shows the current GPU AMI of {region}"
    ]


NO_MATCHING_SERVICE = "no matching EC2 VPC Endpoint Service found"
"""How the AWS provider fails a lookup of a service the region lacks (terraform-provider-aws,
``internal/service/ec2/vpc_endpoint_service_data_source.go``)."""


def _endpoint_services(config: StackConfig, region: str) -> list[str]:
    problems = []
    for i, service in enumerate(config.network.interface_endpoints):
        name = f"com.amazonaws.{region}.{service}"
        try:
            aws.ec2.get_vpc_endpoint_service(service_name=name, service_type="Interface")
        except Exception as e:
            # Only the provider's "no matching EC2 VPC Endpoint Service found" says the service
            # is missing; throttling or missing credentials must surface as themselves.
            if NO_MATCHING_SERVICE not in str(e):
                raise
            problems.append(
                f"{NAMESPACE}:network.interfaceEndpoints[{i}]: {name} has no interface endpoint in {region} "
                f"({' '.join(str(e).split())[:160]}); remove it"
            )
    return problems


def _eks_cluster(config: StackConfig, region: str) -> list[str]:
    """An existing cluster must be in the stack's VPC (its pods register as ``ip`` targets of
    target groups in that VPC, and their network policy admits that VPC's range) and run
    Auto Mode as the config says (which TargetGroupBinding API it serves)."""
    eks, existing = config.eks, config.network.existing
    if eks is None or eks.create or eks.cluster_name is None:
        return []
    cluster = aws.eks.get_cluster(name=eks.cluster_name)
    problems = []
    vpc = cluster.vpc_config.vpc_id
    if existing is not None and vpc != existing.vpc_id:
        problems.append(
            f"{NAMESPACE}:network.existing.vpcId: {existing.vpc_id}, but the cluster {eks.cluster_name} is in "
            f"{vpc}; set the cluster's VPC and its private subnets (the pods register in the stack's target "
            "groups, which live in that VPC)"
        )
    auto_mode = any(c.enabled for c in cluster.compute_configs)
    if eks.auto_mode is not None and auto_mode != eks.auto_mode:
        problems.append(
            f"{NAMESPACE}:eks.autoMode: {str(eks.auto_mode).lower()}, but the cluster {eks.cluster_name} "
            f"{'runs' if auto_mode else 'does not run'} EKS Auto Mode; set {str(auto_mode).lower()}"
        )
    return problems


_RULES: tuple[Callable[[StackConfig, str], list[str]], ...] = (
    _zones,
    _subnets,
    _certificate,
    _ami,
    _endpoint_services,
    _eks_cluster,
)
