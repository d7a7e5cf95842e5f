"""Every value the plans set, checked against AWS's CloudFormation resource schemas.

Pulumi's mocks accept any value; AWS refuses some, halfway through ``pulumi up``. The config
and the policy rules check the limits we know of; this is the net for the ones nobody listed
(``tests.cfn_schemas``: the table from Pulumi types and wire properties to CloudFormation types
and property paths, and the check). It runs on the committed stacks and on an "edges" stack at
the limits the config accepts, and it is shown to fail on values AWS refuses.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from components.network import DEFAULT_INTERFACE_ENDPOINTS
from infra.config import MAX_MODELS, MAX_SECURITY_GROUP_RULES, ConfigError
from infra.plan import Plan, PlannedResource, run_plan
from tests.cfn_schemas import TABLE, fragment, resource_violations, unclassified, violations
from tests.helpers import ROOT

# ----------------------------------------------------------------------------- edges

SINGLE_GPU_TYPES = [
    f"{family}.{size}"
    for family in ("g4dn", "g5", "g6", "g6e")
    for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")
]
"""20 instance types (the most a model takes), one GPU each, each holding a 1B model."""
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
LONGEST_ZONE = "America/Argentina/Rio_Gallegos"
"""The longest canonical IANA zone name (30 characters) in tzdata."""


def edge_model(i: int) -> dict[str, Any]:
    return {
        "modelId": "meta-llama/Llama-3.2-1B-Instruct",
        "revision": "0e9e39f249a16976918f6564b8830bc894c89659",
        "engine": "vllm" if i % 2 else "tgi",
        "instanceTypes": SINGLE_GPU_TYPES,
        "capacity": {"min": 100, "max": 100, "onDemandBase": 50, "warmPool": 100, "onDemandFallbackMax": 50},
        "maxConcurrentRequests": 4096,
        "maxGenerationSeconds": 3600,
        "healthCheckGraceSeconds": 7200,
        "queue": {"visibilityTimeoutSeconds": 43200, "maxReceiveCount": 1000, "retentionSeconds": 1209599},
    }


EDGE_MODEL_NAMES = [f"edge-model-{i:02d}-ab" for i in range(MAX_MODELS)]
"""The most models a stack holds (62), each name 16 characters (the longest allowed)."""

EDGES: dict[str, Any] = {
    # Production: HTTPS, a NAT per AZ, someone to alert. It refuses schedules (a dev-only
    # saving, policy production-no-dev-relaxations): those are in SCHEDULED below.
    "llm-serving:production": True,
    "llm-serving:models": {name: edge_model(i) for i, name in enumerate(EDGE_MODEL_NAMES)},
    "llm-serving:network": {
        "cidr": "10.0.0.0/22",  # the smallest VPC the config takes
        "availabilityZones": 3,
        "natGateways": "perAz",
        "interfaceEndpoints": list(DEFAULT_INTERFACE_ENDPOINTS),
    },
    "llm-serving:loadBalancer": {
        "internal": False,
        # 30 ranges x 2 listener ports = 60 inbound rules, the security group quota.
        "allowedCidrs": [f"203.0.{i}.0/24" for i in range(MAX_SECURITY_GROUP_RULES // 2)],
        "certificateArn": CERTIFICATE,
        "idleTimeoutSeconds": 4000,
    },
    "llm-serving:alerts": {"emails": ["oncall@example.com", "second.on-call+llm-serving@example.org"]},
    "llm-serving:results": {"expirationDays": 3650},
}

EXISTING_VPC = {
    # AWS's resource ids have 8 or 17 hex digits: both lengths.
    "vpcId": "vpc-0123456789abcdef0",
    "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-01234567"],
    "publicSubnetIds": ["subnet-0123456789abcdef1", "subnet-89abcdef"],
}

SCHEDULED: dict[str, Any] = {
    # A dev stack in an existing VPC whose models switch off on a schedule.
    "llm-serving:network": {"existing": EXISTING_VPC},
    "llm-serving:loadBalancer": {"internal": False, "allowedCidrs": ["0.0.0.0/0"], "certificateArn": CERTIFICATE},
    "llm-serving:models": {
        name: {
            **edge_model(i),
            "capacity": {"min": 0, "max": 100, "onDemandBase": 0, "warmPool": 0},
            "schedule": {"offCron": "59 23 31 12 0-6", "onCron": "*/59 0-23 1-31 1-12 6", "timeZone": zone},
        }
        for i, (name, zone) in enumerate((("edge-model-00-ab", LONGEST_ZONE), ("edge-model-01-ab", "Etc/GMT+12")))
    },
}


@pytest.fixture(scope="module")
def edges_plan() -> Plan:
    return run_plan("dev", overrides=EDGES)


@pytest.fixture(scope="module")
def scheduled_plan() -> Plan:
    return run_plan("dev", overrides=SCHEDULED)


PLANS = ["dev_plan", "prod_plan", "mixed_plan", "edges_plan", "scheduled_plan", "eks_existing_plan", "eks_created_plan"]


# ----------------------------------------------------------------------------- table


@pytest.mark.parametrize("plan_name", PLANS)
def test_every_resource_type_and_input_of_the_plans_is_classified(
    plan_name: str, request: pytest.FixtureRequest
) -> None:
    # A new resource type, or a new input of a known one, fails here until it is mapped to
    # its CloudFormation property or left out with a reason (tests/cfn_schemas.py).
    plan: Plan = request.getfixturevalue(plan_name)
    assert unclassified(plan) == []


def test_the_program_never_imports_cfn_lint() -> None:
    # A dev dependency, and a slow import: the plan must stay fast.
    sources = [*(ROOT / "infra").rglob("*.py"), *(ROOT / "components").rglob("*.py")]
    assert [str(p.relative_to(ROOT)) for p in sources if "cfnlint" in p.read_text()] == []


def test_every_mapped_property_is_in_its_cloudformation_schema() -> None:
    # Also for the properties no plan sets yet: a typo in the table fails here, not later.
    for pulumi_type, entry in TABLE.items():
        for prop in entry.props:
            cfn_type = prop.cfn_type or entry.cfn_type
            assert cfn_type is not None, pulumi_type
            fragment(cfn_type, prop.cfn)


# ---------------------------------------------------------------------------- plans


@pytest.mark.parametrize("plan_name", PLANS)
def test_the_plans_pass_the_cloudformation_schemas(plan_name: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(plan_name)
    assert [str(v) for v in violations(plan)] == []


def test_the_edges_plan_is_at_the_limits_and_passes_the_policies(edges_plan: Plan) -> None:
    assert [f for f in edges_plan.findings if f["level"] == "mandatory"] == []
    assert len(edges_plan.of_type("aws:lb/listenerRule:ListenerRule")) == MAX_MODELS == 62
    assert len(edges_plan.of_type("aws:ec2/natGateway:NatGateway")) == 3
    assert len(edges_plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")) == len(DEFAULT_INTERFACE_ENDPOINTS) + 1
    [alb_group] = [g for g in edges_plan.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name == "models-alb"]
    assert sum(len(rule["cidrBlocks"]) for rule in alb_group.input("ingress")) == MAX_SECURITY_GROUP_RULES == 60
    assert max(g.input("maxSize") for g in edges_plan.of_type("aws:autoscaling/group:Group")) == 100


def test_the_scheduled_plan_switches_models_off_in_their_zone(scheduled_plan: Plan) -> None:
    zones = {s.input("timeZone") for s in scheduled_plan.of_type("aws:autoscaling/schedule:Schedule")}
    assert zones == {LONGEST_ZONE, "Etc/GMT+12"}


def test_resource_ids_the_config_accepts_have_a_shape_aws_gives() -> None:
    # AWS's ids have 8 or 17 hex digits (EC2 User Guide, "Resource IDs"); the config once took
    # 8 to 17, and cfn-lint's formats refuse e.g. ami-0123456789.
    ten_digits = {
        "llm-serving:ec2": {"amiId": "ami-0123456789"},
        "llm-serving:network": {
            "existing": {"vpcId": "vpc-0123456789", "privateSubnetIds": ["subnet-0123456789", "subnet-0123456788"]}
        },
    }
    with pytest.raises(ConfigError) as e:
        run_plan("dev", overrides=ten_digits)
    assert [line.split(":")[1] for line in e.value.lines] == [
        "network.existing.vpcId",
        "network.existing.privateSubnetIds[0]",
        "network.existing.privateSubnetIds[1]",
        "ec2.amiId",
    ]
    eight_and_seventeen = {
        "llm-serving:ec2": {"amiId": "ami-01234567"},
        "llm-serving:network": {
            "existing": {"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-01234567", "subnet-89abcdef"]}
        },
    }
    assert [str(v) for v in violations(run_plan("dev", overrides=eight_and_seventeen))] == []


# ---------------------------------------------------------------------- it can fail


def _with(resource: PlannedResource, path: str, value: Any) -> PlannedResource:
    """``resource`` with the input at ``path`` (``healthCheck.interval``) replaced."""
    inputs = copy.deepcopy(resource.inputs)
    *parents, last = path.split(".")
    node = inputs
    for key in parents:
        node = node[key]
    node[last] = value
    return dataclasses.replace(resource, inputs=inputs)


@pytest.mark.parametrize(
    ("pulumi_type", "path", "value", "message"),
    [
        (
            "aws:ec2/securityGroup:SecurityGroup",
            "description",
            "the model's engine port",
            'description -> AWS::EC2::SecurityGroup.GroupDescription: "the model\'s engine port" does not match',
        ),
        (
            "aws:lb/targetGroup:TargetGroup",
            "healthCheck.interval",
            1,
            "healthCheck.interval -> AWS::ElasticLoadBalancingV2::TargetGroup.HealthCheckIntervalSeconds: "
            "1 is less than the minimum of 5",
        ),
        (
            "aws:autoscaling/group:Group",
            "maxSize",
            -1,
            "maxSize -> AWS::AutoScaling::AutoScalingGroup.MaxSize: '-1' does not match '^[0-9]+$'",
        ),
        (
            # Pulumi appends 26 characters to a prefix: 230 + 26 is over the 255 AWS takes.
            "aws:autoscaling/group:Group",
            "namePrefix",
            "g" * 230,
            "namePrefix -> AWS::AutoScaling::AutoScalingGroup.AutoScalingGroupName: 'ggg",
        ),
        (
            "aws:cloudwatch/logGroup:LogGroup",
            "retentionInDays",
            2,
            "retentionInDays -> AWS::Logs::LogGroup.RetentionInDays: 2 is not one of [1, 3, 5,",
        ),
        (
            "aws:sqs/queue:Queue",
            "visibilityTimeoutSeconds",
            43201,
            "visibilityTimeoutSeconds -> AWS::SQS::Queue.VisibilityTimeout: 43201 is greater than the maximum of 43200",
        ),
        (
            "aws:ec2/launchTemplate:LaunchTemplate",
            "imageId",
            "ami-0123456789",
            "imageId -> AWS::EC2::LaunchTemplate.LaunchTemplateData.ImageId: 'ami-0123456789' is not a "
            "'AWS::EC2::Image.Id'",
        ),
        (
            "aws:ec2/subnet:Subnet",
            "cidrBlock",
            "10.40.0.1/24",
            "cidrBlock -> AWS::EC2::Subnet.CidrBlock: '10.40.0.1/24' is not a 'ipv4-network'",
        ),
    ],
)
def test_values_aws_refuses_are_found(dev_plan: Plan, pulumi_type: str, path: str, value: Any, message: str) -> None:
    # Not here: a negative healthCheckGracePeriod. AWS::AutoScaling::AutoScalingGroup types
    # HealthCheckGracePeriod as an integer with no minimum, so the schemas cannot refuse it;
    # the config's healthCheckGraceSeconds (60 to 7200) is what guards it.
    resource = dev_plan.of_type(pulumi_type)[0]
    assert resource_violations(resource, dev_plan.computed) == []
    found = [str(v) for v in resource_violations(_with(resource, path, value), dev_plan.computed)]
    assert any(message in line for line in found), found


@pytest.mark.parametrize(
    ("pulumi_type", "path", "value", "message"),
    [
        (
            "aws:eks/cluster:Cluster",
            "enabledClusterLogTypes",
            ["api", "controllermanager"],
            "enabledClusterLogTypes[1] -> AWS::EKS::Cluster.Logging.ClusterLogging.EnabledTypes[].Type: "
            "'controllermanager' is not one of ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler']",
        ),
        (
            "aws:eks/cluster:Cluster",
            "accessConfig.authenticationMode",
            "IAM",
            "accessConfig.authenticationMode -> AWS::EKS::Cluster.AccessConfig.AuthenticationMode: 'IAM' is not one of",
        ),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "fromPort",
            -2,
            "fromPort -> AWS::EC2::SecurityGroupIngress.FromPort: -2 is less than the minimum of -1",
        ),
    ],
)
def test_values_aws_refuses_on_eks_are_found(
    eks_created_plan: Plan, pulumi_type: str, path: str, value: Any, message: str
) -> None:
    resource = eks_created_plan.of_type(pulumi_type)[0]
    assert resource_violations(resource, eks_created_plan.computed) == []
    found = [str(v) for v in resource_violations(_with(resource, path, value), eks_created_plan.computed)]
    assert any(message in line for line in found), found
