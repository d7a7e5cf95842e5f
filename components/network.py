"""Network for the stack: a new VPC across several AZs, or an existing one by id.

Creates (new VPC): the VPC, per AZ a public and a private subnet, an internet gateway, NAT
gateways (one, one per AZ, or none), route tables, a free S3 gateway endpoint, the
interface endpoints the fleet calls (so AWS API traffic stays off the internet), and VPC
flow logs of rejected traffic.
Existing VPC: creates only the endpoint security group and the listed interface endpoints.
Defaults: 2 AZs, one NAT gateway, every interface endpoint, flow logs of rejects kept 90 days.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components import _policy

NatGateways = Literal["single", "perAz", "none"]

DEFAULT_INTERFACE_ENDPOINTS: tuple[str, ...] = (
    "sqs",  # the worker's queue
    "secretsmanager",  # the Hugging Face token at boot
    "logs",  # the CloudWatch agent: container logs
    "monitoring",  # the CloudWatch agent: worker metrics
    "autoscaling",  # the worker completes lifecycle actions
    "sts",  # SDK credential calls
    "ssm",  # Session Manager instead of SSH, and the AMI parameter
    "ssmmessages",
    "ec2messages",
    "ecr.api",  # engine images mirrored into ECR
    "ecr.dkr",
)
"""AWS APIs the fleet calls, reachable without NAT. Each costs about $7.30 a month per AZ:
dev stacks may turn them off and go through the NAT gateway instead."""

REQUIRED_WITHOUT_NAT: dict[str, str] = {
    "ecr.api": "the instances log in to ECR to pull the engine and worker images",
    "ecr.dkr": "the image manifests and layers come from ECR (layers through the S3 gateway endpoint)",
    "sqs": "the worker receives from the model's queue",
    "logs": "the CloudWatch agent ships the logs and the worker's metrics",
    "autoscaling": "the boot and the worker complete their lifecycle actions",
}
"""Interface endpoints a fleet with no NAT gateway cannot do without, and why. S3 (weights,
image layers, the AL2023 package repositories) goes through the free gateway endpoint,
which every new VPC gets."""

DEFAULT_CIDR = "10.0.0.0/16"
"""A /16 leaves room for thousands of GPU instances and several stacks peered later."""
DEFAULT_AVAILABILITY_ZONES = 2
"""Two at least: the load balancer needs two, and one AZ is one point of failure (and one
pool of spot capacity)."""
DEFAULT_NAT_GATEWAYS: NatGateways = "single"
"""One NAT (about $33 a month) is enough for dev; production stacks need one per AZ."""


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    cidr: str = DEFAULT_CIDR
    """Address range of a new VPC, split evenly into a public and a private subnet per AZ."""
    availability_zone_count: int = DEFAULT_AVAILABILITY_ZONES
    nat_gateways: NatGateways = DEFAULT_NAT_GATEWAYS
    interface_endpoints: Sequence[str] = DEFAULT_INTERFACE_ENDPOINTS
    """Services (as in ``com.amazonaws.<region>.<name>``) given an interface endpoint."""
    existing_vpc_id: str | None = None
    """Use this VPC instead of creating one; then the subnet ids below are required."""
    existing_private_subnet_ids: Sequence[str] = ()
    existing_public_subnet_ids: Sequence[str] = ()
    enable_flow_logs: bool = True
    """Log rejected traffic of a new VPC: the security signal, at a fraction of the cost of
    logging everything."""
    flow_log_retention_days: int = 90


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vpc_cidr: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    """Where the GPU fleet runs: no public addresses."""
    public_subnet_ids: pulumi.Output[list[str]]
    """Where a public load balancer and the NAT gateways live."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:Network", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        private_route_tables: list[aws.ec2.RouteTable] = []
        if args.existing_vpc_id is not None:
            self._use_existing(args)
        else:
            private_route_tables = self._create_vpc(args)
        self._create_endpoints(args, region, private_route_tables)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "vpc_cidr": self.vpc_cidr,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )

    def _use_existing(self, args: NetworkArgs) -> None:
        if len(args.existing_private_subnet_ids) < 2:
            raise ValueError("an existing VPC needs at least two private subnets (in two AZs)")
        vpc = aws.ec2.get_vpc_output(id=args.existing_vpc_id, opts=pulumi.InvokeOptions(parent=self))
        self.vpc_id = pulumi.Output.from_input(args.existing_vpc_id)  # type: ignore[arg-type]
        self.vpc_cidr = vpc.cidr_block
        self.private_subnet_ids = pulumi.Output.from_input(list(args.existing_private_subnet_ids))
        self.public_subnet_ids = pulumi.Output.from_input(list(args.existing_public_subnet_ids))

    def _create_vpc(self, args: NetworkArgs) -> list[aws.ec2.RouteTable]:
        name, child = self._name, self._child
        azs = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOptions(parent=self)).names
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": name},
            opts=child,
        )
        # Lock down the default security group: nothing should use it by accident.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, opts=child)
        count = args.availability_zone_count
        public_cidrs, private_cidrs = _subnet_cidrs(args.cidr, count)
        public, private = [], []
        for i in range(count):
            az = azs.apply(functools.partial(_zone, index=i))
            public.append(
                aws.ec2.Subnet(
                    f"{name}-public-{i}",
                    vpc_id=vpc.id,
                    cidr_block=public_cidrs[i],
                    availability_zone=az,
                    map_public_ip_on_launch=False,
                    tags={"Name": f"{name}-public-{i}", "kubernetes.io/role/elb": "1"},
                    opts=child,
                )
            )
            private.append(
                aws.ec2.Subnet(
                    f"{name}-private-{i}",
                    vpc_id=vpc.id,
                    cidr_block=private_cidrs[i],
                    availability_zone=az,
                    map_public_ip_on_launch=False,
                    tags={"Name": f"{name}-private-{i}", "kubernetes.io/role/internal-elb": "1"},
                    opts=child,
                )
            )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            opts=child,
        )
        for i, subnet in enumerate(public):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child
            )
        nats = self._nat_gateways(args.nat_gateways, public)
        route_tables = []
        for i, subnet in enumerate(private):
            routes = []
            if nats:
                nat = nats[i % len(nats)]
                routes = [aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)]
            rt = aws.ec2.RouteTable(f"{name}-private-{i}", vpc_id=vpc.id, routes=routes, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=subnet.id, route_table_id=rt.id, opts=child)
            route_tables.append(rt)
        if args.enable_flow_logs:
            self._flow_logs(vpc, args.flow_log_retention_days)
        self.vpc_id = vpc.id
        self.vpc_cidr = vpc.cidr_block
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        return route_tables

    def _nat_gateways(self, mode: NatGateways, public: list[aws.ec2.Subnet]) -> list[aws.ec2.NatGateway]:
        count = {"single": 1, "perAz": len(public), "none": 0}[mode]
        nats = []
        for i in range(count):
            eip = aws.ec2.Eip(f"{self._name}-nat-{i}", domain="vpc", opts=self._child)
            nats.append(
                aws.ec2.NatGateway(
                    f"{self._name}-nat-{i}", allocation_id=eip.id, subnet_id=public[i].id, opts=self._child
                )
            )
        return nats

    def _flow_logs(self, vpc: aws.ec2.Vpc, retention_days: int) -> None:
        name, child = self._name, self._child
        group = aws.cloudwatch.LogGroup(f"{name}-flow-logs", retention_in_days=retention_days, opts=child)
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=_policy.assume_role_policy("vpc-flow-logs.amazonaws.com"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=_policy.document(
                _policy.allow(["logs:DescribeLogStreams"], [group.arn], sid="FindStreams"),
                _policy.allow(
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    [group.arn.apply(lambda a: f"{a}:log-stream:*")],
                    sid="WriteStreams",
                ),
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="REJECT",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=600,
            opts=child,
        )

    def _create_endpoints(
        self, args: NetworkArgs, region: pulumi.Output[str], private_route_tables: list[aws.ec2.RouteTable]
    ) -> None:
        name, child = self._name, self._child
        if private_route_tables:
            aws.ec2.VpcEndpoint(
                f"{name}-s3",
                vpc_id=self.vpc_id,
                vpc_endpoint_type="Gateway",
                service_name=region.apply(functools.partial(_service_name, service="s3")),
                route_table_ids=[rt.id for rt in private_route_tables],
                opts=child,
            )
        if not args.interface_endpoints:
            return
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=self.vpc_id,
            description="HTTPS from the VPC to AWS API interface endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[self.vpc_cidr],
                    description="HTTPS from inside the VPC",
                )
            ],
            opts=child,
        )
        for service in args.interface_endpoints:
            aws.ec2.VpcEndpoint(
                endpoint_resource_name(name, service),
                vpc_id=self.vpc_id,
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                service_name=region.apply(functools.partial(_service_name, service=service)),
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[sg.id],
                opts=child,
            )


def endpoint_resource_name(network: str, service: str) -> str:
    """The resource name of a service's interface endpoint: two services that map to one name
    (``ecr.api`` and ``ecr-api``) would be two resources with one URN."""
    return f"{network}-{service.replace('.', '-')}"


def _service_name(region: str, service: str) -> str:
    return f"com.amazonaws.{region}.{service}"


def _zone(names: list[str], index: int) -> str:
    if index >= len(names):
        raise ValueError(f"the region has {len(names)} available AZs; lower the AZ count to {len(names)} or fewer")
    return names[index]


def _subnet_cidrs(cidr: str, count: int) -> tuple[list[str], list[str]]:
    """Split ``cidr`` into ``count`` public and ``count`` private subnets of equal size."""
    network = ipaddress.ip_network(cidr)
    bits = math.ceil(math.log2(2 * count))
    blocks = [str(b) for b in network.subnets(prefixlen_diff=bits)]
    return blocks[:count], blocks[count : 2 * count]


def https_egress(description: str) -> list[aws.ec2.SecurityGroupEgressArgs]:
    """A security group's only way out: HTTPS, for AWS's APIs and S3 (through the VPC's
    endpoints or NAT); DNS goes to the VPC's resolver, which security groups do not filter."""
    return [
        aws.ec2.SecurityGroupEgressArgs(
            protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"], description=description
        )
    ]
