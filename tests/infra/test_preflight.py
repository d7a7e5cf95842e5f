"""What only the account can answer, checked when `pulumi preview` runs the program, before
anything is declared. The offline plan's mocks answer as if the account matched the config;
here they answer otherwise, as a real account might."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import OTHER_PARTITION_REGION, ConfigError
from infra.endpoint_services import INTERFACE_ENDPOINT_SERVICES
from infra.plan import run_plan
from tests.helpers import ROOT

EXISTING = {
    "vpcId": "vpc-0abc1234",
    "privateSubnetIds": ["subnet-0aaa1111", "subnet-0bbb2222"],
    "publicSubnetIds": ["subnet-0ccc3333", "subnet-0ddd4444"],
}


def refused(invokes: dict[str, Any], **overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as e:
        run_plan("dev", overrides=overrides, invokes=invokes)
    return e.value.lines


def zones(count: int) -> Any:
    def answer(m: Any, _args: dict[str, Any]) -> dict[str, Any]:
        names = [f"{m.region}{c}" for c in "abcdef"[:count]]
        return {"id": m.region, "names": names, "zoneIds": names, "groupNames": names}

    return {"aws:index/getAvailabilityZones:getAvailabilityZones": answer}


def test_more_azs_than_the_region_offers_stop_the_preview() -> None:
    lines = refused(zones(2), **{"llm-serving:network": {"cidr": "10.40.0.0/16", "availabilityZones": 3}})
    assert lines == [
        "llm-serving:network.availabilityZones: 3, but us-east-1 offers this account 2 (us-east-1a, us-east-1b); "
        "lower it to 2 or fewer"
    ]


def test_as_many_azs_as_the_region_offers_pass() -> None:
    plan = run_plan("dev", invokes=zones(2))
    assert len(plan.of_type("aws:ec2/subnet:Subnet")) == 4


def subnets(**where: tuple[str, str]) -> Any:
    """getSubnet answering (vpc, AZ) per subnet id."""

    def answer(m: Any, args: dict[str, Any]) -> dict[str, Any]:
        vpc, zone = where[args["id"]]
        return {"id": args["id"], "vpcId": vpc, "availabilityZone": zone}

    return {"aws:ec2/getSubnet:getSubnet": answer}


NETWORK = {"llm-serving:network": {"existing": EXISTING}}


def test_existing_subnets_in_one_az_stop_the_preview() -> None:
    lines = refused(
        subnets(
            **{"subnet-0aaa1111": ("vpc-0abc1234", "us-east-1a"), "subnet-0bbb2222": ("vpc-0abc1234", "us-east-1a")}
        ),
        **NETWORK,
    )
    assert lines == [
        "llm-serving:network.existing.privateSubnetIds[1]: subnet-0bbb2222 is in us-east-1a like subnet-0aaa1111; "
        "list one subnet per AZ (a load balancer takes one per AZ, and two in one AZ are no protection against "
        "its loss)"
    ]


def test_an_existing_subnet_of_another_vpc_stops_the_preview() -> None:
    lines = refused(
        subnets(
            **{"subnet-0aaa1111": ("vpc-0abc1234", "us-east-1a"), "subnet-0bbb2222": ("vpc-0fff9999", "us-east-1b")}
        ),
        **NETWORK,
    )
    assert lines == [
        "llm-serving:network.existing.privateSubnetIds[1]: subnet-0bbb2222 is in vpc-0fff9999, not in "
        "vpc-0abc1234; list subnets of that VPC"
    ]


def test_existing_subnets_the_config_describes_truly_pass() -> None:
    plan = run_plan("dev", overrides=NETWORK)
    assert not plan.of_type("aws:ec2/vpc:Vpc")


def test_an_ami_missing_from_the_region_stops_the_preview() -> None:
    lines = refused({"aws:ec2/getAmiIds:getAmiIds": lambda _m, args: {"id": "x", "ids": []}})
    assert lines == [
        "llm-serving:ec2.amiId: ami-0123456789abcdef0 is not an AMI of Amazon or of this account in us-east-1; AMI "
        "ids differ per region: `llm-serving ami latest STACK` shows the current GPU AMI of us-east-1"
    ]


def test_an_endpoint_service_the_region_lacks_stops_the_preview() -> None:
    def missing(_m: Any, args: dict[str, Any]) -> Any:
        # As the provider fails a lookup: a failure returned with the answer.
        if args["serviceName"].endswith(".bedrock-runtime"):
            return {}, [("serviceName", "no matching EC2 VPC Endpoint Service found")]
        return {"id": args["serviceName"], "serviceName": args["serviceName"]}

    [line] = refused(
        {"aws:ec2/getVpcEndpointService:getVpcEndpointService": missing},
        **{"llm-serving:network": {"cidr": "10.40.0.0/16", "interfaceEndpoints": ["sqs", "bedrock-runtime"]}},
    )
    assert line.startswith(
        "llm-serving:network.interfaceEndpoints[1]: com.amazonaws.us-east-1.bedrock-runtime has no interface "
        "endpoint in us-east-1 (invoke of aws:ec2/getVpcEndpointService:getVpcEndpointService failed: no matching "
        "EC2 VPC Endpoint Service found (serviceName)); remove it"
    )


def test_a_lookup_that_fails_for_another_reason_is_not_blamed_on_the_endpoint() -> None:
    def throttled(_m: Any, args: dict[str, Any]) -> Any:
        return {}, [("serviceName", "reading EC2 VPC Endpoint Services: RequestLimitExceeded: Request limit exceeded")]

    with pytest.raises(Exception, match="RequestLimitExceeded") as e:
        run_plan(
            "dev",
            overrides={"llm-serving:network": {"cidr": "10.40.0.0/16", "interfaceEndpoints": ["sqs"]}},
            invokes={"aws:ec2/getVpcEndpointService:getVpcEndpointService": throttled},
        )
    assert not isinstance(e.value, ConfigError)


def test_a_certificate_of_another_region_stops_the_preview_when_the_region_comes_from_the_environment() -> None:
    def region(_m: Any, _args: dict[str, Any]) -> dict[str, Any]:
        return {"id": "eu-west-1", "name": "eu-west-1", "region": "eu-west-1"}

    lines = refused(
        {"aws:index/getRegion:getRegion": region},
        **{"llm-serving:loadBalancer": {"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"}},
    )
    assert lines == [
        "llm-serving:loadBalancer.certificateArn: the certificate is in us-east-1, the stack in eu-west-1: a load "
        "balancer can only use an ACM certificate of its own region"
    ]


def test_a_stack_name_aws_names_cannot_hold_is_refused(tmp_path: Path) -> None:
    # The dashboard takes letters, digits, - and _ only; Pulumi stack names may hold dots.
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.eu.yaml")
    with pytest.raises(ConfigError) as e:
        run_plan("dev.eu", project_dir=tmp_path)
    assert e.value.lines == [
        "stack name 'dev.eu': the stack's name becomes part of AWS names (its dashboard takes only letters, "
        "digits, - and _), so use 1 to 40 of those; rename it with `pulumi stack rename`"
    ]


OTHER_PARTITION_SAMPLES = {
    "aws-cn": "cn-north-1",
    "aws-us-gov": "us-gov-west-1",
    "aws-iso": "us-iso-east-1",
    "aws-iso-b": "us-isob-east-1",
    "aws-iso-e": "eu-isoe-west-1",
    "aws-iso-f": "us-isof-south-1",
    "aws-eusc": "eusc-de-east-1",
}


def test_regions_of_other_partitions_are_told_apart_as_botocore_does() -> None:
    import botocore

    table = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())
    patterns = {p["id"]: re.compile(p["regionRegex"]) for p in table["partitions"]}
    assert set(patterns) == {"aws", *OTHER_PARTITION_SAMPLES}  # a new partition: add a sample
    for partition, region in OTHER_PARTITION_SAMPLES.items():
        assert patterns[partition].fullmatch(region) and OTHER_PARTITION_REGION.fullmatch(region), region
    for region in ("us-east-1", "eu-central-1", "ap-southeast-5", "mx-central-1", "il-central-1", "ca-west-1"):
        assert patterns["aws"].fullmatch(region) and not OTHER_PARTITION_REGION.fullmatch(region), region


def test_a_stack_in_another_partition_is_refused_before_anything_is_declared() -> None:
    [line] = refused({}, **{"aws:region": "cn-north-1"})
    assert line == (
        "aws:region: cn-north-1 is outside AWS's commercial partition; llm-serving builds ARNs, image addresses "
        "and endpoints for commercial regions only: use one (e.g. us-east-1)"
    )


def test_the_committed_stacks_pass_every_preflight_check_in_a_real_regions_shape() -> None:
    # us-east-1 as an account sees it: 6 zones, only the interface endpoint services AWS lists,
    # only the AMI each stack file pins. Any rule the committed stacks break would show here.
    def services(_m: Any, args: dict[str, Any]) -> Any:
        name = args["serviceName"]
        if name.removeprefix("com.amazonaws.us-east-1.") not in INTERFACE_ENDPOINT_SERVICES:
            return {}, [("serviceName", "no matching EC2 VPC Endpoint Service found")]
        return {"id": name, "serviceName": name}

    for stack in ("dev", "prod"):
        pinned = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]["llm-serving:ec2"]["amiId"]

        def amis(_m: Any, args: dict[str, Any], pinned: str = pinned) -> dict[str, Any]:
            wanted = [v for f in args["filters"] for v in f["values"]]
            return {"id": "ami-ids", "ids": [pinned] if wanted == [pinned] else []}

        invokes = {
            **zones(6),
            "aws:ec2/getVpcEndpointService:getVpcEndpointService": services,
            "aws:ec2/getAmiIds:getAmiIds": amis,
        }
        assert run_plan(stack, invokes=invokes).of_type("aws:ec2/subnet:Subnet")


# ------------------------------------------------------------------- an existing EKS cluster

STACKS = ROOT / "tests" / "stacks"


def eks_cluster(vpc: str, *, auto_mode: bool) -> Any:
    """getCluster answering a cluster in ``vpc``, with or without Auto Mode."""

    def answer(m: Any, args: dict[str, Any]) -> dict[str, Any]:
        from infra.plan import _INVOKES

        found = _INVOKES["aws:eks/getCluster:getCluster"](m, args)
        compute = [{**found["computeConfigs"][0], "enabled": auto_mode}]
        return {**found, "vpcConfig": {**found["vpcConfig"], "vpcId": vpc}, "computeConfigs": compute}

    return {"aws:eks/getCluster:getCluster": answer}


def test_an_existing_cluster_in_another_vpc_or_mode_stops_the_preview() -> None:
    with pytest.raises(ConfigError) as e:
        run_plan("eks-existing", project_dir=STACKS, invokes=eks_cluster("vpc-0fff9999", auto_mode=False))
    assert e.value.lines == [
        "llm-serving:network.existing.vpcId: vpc-0abc1234def567890, but the cluster ml-platform is in "
        "vpc-0fff9999; set the cluster's VPC and its private subnets (the pods register in the stack's target "
        "groups, which live in that VPC)",
        "llm-serving:eks.autoMode: true, but the cluster ml-platform does not run EKS Auto Mode; set false",
    ]


def test_an_existing_cluster_as_the_config_describes_it_passes() -> None:
    plan = run_plan("eks-existing", project_dir=STACKS, invokes=eks_cluster("vpc-0abc1234def567890", auto_mode=True))
    assert plan.of_type("kubernetes:apps/v1:Deployment")
