"""Network: a new VPC across N AZs, NAT by config, endpoints; or an existing VPC."""

from __future__ import annotations

import ipaddress

import pytest

from components.network import DEFAULT_INTERFACE_ENDPOINTS, Network, NetworkArgs, _subnet_cidrs
from infra.plan import Plan, run_program


def plan_network(**args: object) -> Plan:
    return run_program(
        lambda: Network("net", NetworkArgs(**args)),  # type: ignore[arg-type]
        config={"aws:region": "us-west-2"},
    )


def test_creates_public_and_private_subnets_in_each_az() -> None:
    plan = plan_network(availability_zone_count=3, interface_endpoints=())
    subnets = {r.name: r for r in plan.of_type("aws:ec2/subnet:Subnet")}
    assert sorted(subnets) == [f"net-{kind}-{i}" for kind in ("private", "public") for i in range(3)]
    assert [subnets[f"net-private-{i}"].input("availabilityZone") for i in range(3)] == [
        "us-west-2a",
        "us-west-2b",
        "us-west-2c",
    ]
    assert all(s.input("mapPublicIpOnLaunch") is False for s in subnets.values())


def test_subnets_do_not_overlap_and_stay_inside_the_vpc() -> None:
    public, private = _subnet_cidrs("10.1.0.0/16", 3)
    nets = [ipaddress.ip_network(c) for c in public + private]
    assert all(n.subnet_of(ipaddress.ip_network("10.1.0.0/16")) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


@pytest.mark.parametrize(("mode", "count"), [("single", 1), ("perAz", 3), ("none", 0)])
def test_nat_gateways_follow_the_mode(mode: str, count: int) -> None:
    plan = plan_network(availability_zone_count=3, nat_gateways=mode, interface_endpoints=DEFAULT_INTERFACE_ENDPOINTS)
    assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == count
    private_routes = [
        r.input("routes") for r in plan.of_type("aws:ec2/routeTable:RouteTable") if r.name.startswith("net-private")
    ]
    assert all(len(routes) == (1 if count else 0) for routes in private_routes)


def test_single_nat_serves_every_private_subnet() -> None:
    plan = plan_network(availability_zone_count=2, nat_gateways="single", interface_endpoints=())
    [nat] = plan.of_type("aws:ec2/natGateway:NatGateway")
    routes = [
        r.input("routes")[0]["natGatewayId"]
        for r in plan.of_type("aws:ec2/routeTable:RouteTable")
        if r.name.startswith("net-private")
    ]
    assert routes == [nat.id, nat.id]
    assert nat.name == "net-nat-0"


def test_s3_gateway_endpoint_serves_the_private_route_tables() -> None:
    plan = plan_network(interface_endpoints=())
    endpoint = plan.named("aws:ec2/vpcEndpoint:VpcEndpoint", "net-s3")
    assert endpoint.input("vpcEndpointType") == "Gateway"
    assert endpoint.input("serviceName") == "com.amazonaws.us-west-2.s3"
    assert len(endpoint.input("routeTableIds")) == 2


def test_interface_endpoints_for_the_fleet_in_private_subnets() -> None:
    plan = plan_network(interface_endpoints=("sqs", "ecr.dkr"))
    endpoints = {
        r.input("serviceName"): r
        for r in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if r.input("vpcEndpointType") == "Interface"
    }
    assert sorted(endpoints) == ["com.amazonaws.us-west-2.ecr.dkr", "com.amazonaws.us-west-2.sqs"]
    assert all(e.input("privateDnsEnabled") is True for e in endpoints.values())
    sg = plan.named("aws:ec2/securityGroup:SecurityGroup", "net-endpoints")
    [rule] = sg.input("ingress")
    assert (rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == (443, 443, ["10.0.0.0/16"])


def test_default_endpoints_cover_every_api_the_fleet_calls() -> None:
    assert {"sqs", "secretsmanager", "logs", "monitoring", "autoscaling", "ecr.api", "ecr.dkr"} <= set(
        DEFAULT_INTERFACE_ENDPOINTS
    )


def test_flow_logs_record_rejected_traffic_with_retention() -> None:
    plan = plan_network(interface_endpoints=())
    flow = plan.named("aws:ec2/flowLog:FlowLog", "net-flow-logs")
    assert flow.input("trafficType") == "REJECT"
    assert plan.named("aws:cloudwatch/logGroup:LogGroup", "net-flow-logs").input("retentionInDays") == 90


def test_existing_vpc_creates_no_vpc_and_exposes_its_subnets() -> None:
    plan = plan_network(
        existing_vpc_id="vpc-0abc12345",
        existing_private_subnet_ids=("subnet-01234567", "subnet-01234568"),
        interface_endpoints=("sqs",),
    )
    assert plan.of_type("aws:ec2/vpc:Vpc") == []
    assert plan.of_type("aws:ec2/subnet:Subnet") == []
    [endpoint] = plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.input("vpcId") == "vpc-0abc12345"
    assert endpoint.input("subnetIds") == ["subnet-01234567", "subnet-01234568"]


def test_existing_vpc_needs_two_private_subnets() -> None:
    with pytest.raises(ValueError, match="at least two private subnets"):
        plan_network(existing_vpc_id="vpc-0abc12345", existing_private_subnet_ids=("subnet-01234567",))


def test_children_are_parented_to_the_component() -> None:
    plan = plan_network(interface_endpoints=())
    [component] = plan.of_type("llm-serving:aws:Network")
    assert all(r.parent == component.urn for r in plan.resources if r.custom)
