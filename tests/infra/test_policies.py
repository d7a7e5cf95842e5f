"""Each policy rule with a resource that passes (the committed stacks) and one that fails
(the same resource with one property broken). Plus the whole plan: prod and dev are clean,
a deliberately bad stack is not."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.plan import Plan, PlannedResource
from infra.policies import POLICIES, evaluate
from tests.helpers import ROOT

Mutation = Callable[[list[PlannedResource]], list[PlannedResource]]


def findings(resources: list[PlannedResource], rule: str) -> list[dict[str, str]]:
    [policy] = [p for p in POLICIES if p.name == rule]
    return evaluate(resources, [policy])


def edit(type_: str, name: str, change: Callable[[dict[str, Any]], None]) -> Mutation:
    """Change one resource's inputs (a deep copy)."""

    def mutate(resources: list[PlannedResource]) -> list[PlannedResource]:
        out = []
        for r in resources:
            if r.type == type_ and r.name == name:
                inputs = copy.deepcopy(r.inputs)
                change(inputs)
                r = dataclasses.replace(r, inputs=inputs)
            out.append(r)
        return out

    return mutate


def copies(type_: str, name: str, count: int) -> Mutation:
    """``count`` more resources like one (each with its own URN)."""

    def mutate(resources: list[PlannedResource]) -> list[PlannedResource]:
        [original] = [r for r in resources if r.type == type_ and r.name == name]
        return resources + [dataclasses.replace(original, urn=f"{original.urn}-{i}") for i in range(count)]

    return mutate


def drop(type_: str, predicate: Callable[[PlannedResource], bool]) -> Mutation:
    return lambda resources: [r for r in resources if not (r.type == type_ and predicate(r))]


def setter(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(inputs: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = inputs
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return change


LT, GROUP = "aws:ec2/launchTemplate:LaunchTemplate", "aws:autoscaling/group:Group"
LB, QUEUE = "aws:lb/loadBalancer:LoadBalancer", "aws:sqs/queue:Queue"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SG, RULE, TG = (
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:lb/listenerRule:ListenerRule",
    "aws:lb/targetGroup:TargetGroup",
)
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
SECRET_USER_DATA = base64.b64encode(
    b"#cloud-config\nruncmd:\n - echo HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123456789\n"
)

CASES: list[tuple[str, str, Mutation, str]] = [
    (
        "launch-template-imdsv2",
        "dev",
        edit(LT, "chat-lt", setter("metadataOptions.httpTokens", "optional")),
        "httpTokens to 'required'",
    ),
    (
        "launch-template-hop-limit",
        "dev",
        edit(LT, "chat-lt", setter("metadataOptions.httpPutResponseHopLimit", 2)),
        "HopLimit to 1 (is 2)",
    ),
    (
        "launch-template-encrypted-volumes",
        "dev",
        edit(LT, "chat-lt", setter("blockDeviceMappings.0.ebs.encrypted", "false")),
        "encrypted to true",
    ),
    (
        "launch-template-no-public-ip",
        "dev",
        edit(LT, "chat-lt", setter("networkInterfaces.0.associatePublicIpAddress", "true")),
        "to false",
    ),
    (
        "launch-template-no-secrets-in-user-data",
        "dev",
        edit(LT, "chat-lt", setter("userData", SECRET_USER_DATA.decode())),
        "a Hugging Face token",
    ),
    (
        "group-launch-template",
        "dev",
        edit(GROUP, "chat-on-demand", setter("launchTemplate", ...)),
        "use a launch template",
    ),
    ("group-multi-az", "dev", edit(GROUP, "chat-spot", setter("vpcZoneIdentifiers", ["subnet-1"])), "at least 2 AZs"),
    ("group-elb-health-check", "dev", edit(GROUP, "chat-spot", setter("healthCheckType", "EC2")), "'ELB'"),
    (
        "group-grace-covers-model-load",
        "dev",
        edit(GROUP, "chat-spot", setter("healthCheckGracePeriod", 60)),
        "healthCheckGracePeriod to at least",
    ),
    (
        "group-spot-capacity-rebalance",
        "dev",
        edit(GROUP, "chat-spot", setter("capacityRebalance", False)),
        "capacityRebalance to true",
    ),
    (
        "group-termination-hook",
        "dev",
        edit(
            GROUP,
            "chat-spot",
            lambda i: i.__setitem__(
                "initialLifecycleHooks",
                [h for h in i["initialLifecycleHooks"] if "TERMINATING" not in h["lifecycleTransition"]],
            ),
        ),
        "EC2_INSTANCE_TERMINATING",
    ),
    (
        "load-balancer-drops-invalid-headers",
        "dev",
        edit(LB, "models-alb", setter("dropInvalidHeaderFields", False)),
        "dropInvalidHeaderFields",
    ),
    ("load-balancer-access-logs", "dev", edit(LB, "models-alb", setter("accessLogs.enabled", False)), "accessLogs"),
    (
        "load-balancer-deletion-protection",
        "prod",
        edit(LB, "models-alb", setter("enableDeletionProtection", False)),
        "enableDeletionProtection",
    ),
    (
        "load-balancer-internal",
        "dev",
        edit(LB, "models-alb", setter("internal", False)),
        "make the load balancer internal",
    ),
    (
        "load-balancer-https",
        "dev",
        lambda rs: edit(LB, "models-alb", setter("internal", False))(rs),
        "must serve HTTPS",
    ),
    (
        "load-balancer-https",
        "prod",
        edit("aws:lb/listener:Listener", "models-https", setter("sslPolicy", "ELBSecurityPolicy-2016-08")),
        "use an allowed TLS policy",
    ),
    ("load-balancer-waf", "dev", edit(LB, "models-alb", setter("internal", False)), "WAF"),
    (
        "target-group-health-check",
        "dev",
        edit("aws:lb/targetGroup:TargetGroup", "chat-tg", setter("healthCheck.path", ...)),
        "healthCheck.path",
    ),
    ("queue-encrypted", "dev", edit(QUEUE, "chat-queue", setter("sqsManagedSseEnabled", False)), "encryption"),
    ("queue-dead-letter", "dev", edit(QUEUE, "chat-queue", setter("redrivePolicy", ...)), "dead-letter queue"),
    (
        "queue-dead-letter",
        "dev",
        edit(QUEUE, "chat-dlq", setter("messageRetentionSeconds", 60)),
        "keep dead letters longer",
    ),
    (
        "queue-policy-not-public",
        "dev",
        edit(
            "aws:sqs/queuePolicy:QueuePolicy",
            "chat-queue-tls",
            setter(
                "policy",
                json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*"}]}),
            ),
        ),
        "Principal '*'",
    ),
    (
        "iam-no-wildcards",
        "dev",
        edit(
            "aws:iam/rolePolicy:RolePolicy",
            "chat-queue",
            setter("policy", json.dumps({"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]})),
        ),
        "wildcard action",
    ),
    (
        "iam-no-wildcards",
        "dev",
        edit(
            "aws:iam/rolePolicy:RolePolicy",
            "chat-queue",
            setter(
                "policy",
                json.dumps({"Statement": [{"Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": "*"}]}),
            ),
        ),
        "scope them",
    ),
    (
        "iam-trust-specific-service",
        "dev",
        edit(
            "aws:iam/role:Role",
            "chat-instance",
            setter(
                "assumeRolePolicy",
                json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}),
            ),
        ),
        "trusts AWS '*'",
    ),
    (
        "bucket-policy-not-public",
        "dev",
        edit(
            "aws:s3/bucketPolicy:BucketPolicy",
            "results-policy",
            setter(
                "policy",
                json.dumps(
                    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}
                ),
            ),
        ),
        "Principal '*'",
    ),
    (
        "bucket-guards",
        "dev",
        drop("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", lambda r: r.name == "results-public-access"),
        "BucketPublicAccessBlock",
    ),
    (
        "bucket-guards",
        "dev",
        drop("aws:s3/bucketPolicy:BucketPolicy", lambda r: r.name == "results-policy"),
        "aws:SecureTransport",
    ),
    (
        "topic-encrypted",
        "dev",
        edit("aws:sns/topic:Topic", "alarms-topic", setter("kmsMasterKeyId", ...)),
        "kmsMasterKeyId",
    ),
    ("topic-tls-only", "dev", drop("aws:sns/topicPolicy:TopicPolicy", lambda r: True), "SecureTransport"),
    (
        "log-retention",
        "dev",
        edit("aws:cloudwatch/logGroup:LogGroup", "chat-engine", setter("retentionInDays", ...)),
        "retentionInDays",
    ),
    ("dead-letter-alarm", "dev", drop(ALARM, lambda r: r.name == "chat-dead-letters"), "dead-letter queue"),
    ("user-facing-alarms", "dev", drop(ALARM, lambda r: r.name == "chat-errors"), "HTTPCode_Target_5XX_Count"),
    ("user-facing-alarms", "dev", drop(ALARM, lambda r: r.name == "chat-queue-age"), "ApproximateAgeOfOldestMessage"),
    (
        "production-no-dev-relaxations",
        "prod",
        edit("aws:s3/bucket:Bucket", "results-bucket", setter("forceDestroy", True)),
        "forceDestroy",
    ),
    # What AWS accepts (infra/aws_limits.py).
    (
        "aws-security-group-descriptions",
        "dev",
        edit(SG, "models-alb", setter("egress.0.description", "to the engines' ports on the instances")),
        'egress[0].description "to the engines\' ports on the instances" has "\'"',
    ),
    (
        "aws-security-group-descriptions",
        "prod",
        edit(SG, "chat-instances", setter("description", "GPU instances of chat (100% GPU)")),
        "description 'GPU instances of chat (100% GPU)' has '%'",
    ),
    (
        "aws-security-group-descriptions",
        "dev",
        edit(SG, "models-alb", setter("ingress.0.description", "x" * 256)),
        "ingress[0].description is 256 characters",
    ),
    (
        "aws-security-group-rule-quota",
        "dev",
        edit(SG, "models-alb", setter("ingress.0.cidrBlocks", [f"10.{i}.0.0/16" for i in range(61)])),
        "61 ingress rules",
    ),
    ("aws-listener-rule-quota", "dev", copies(RULE, "chat-route", 100), "101 listener rules"),
    (
        "aws-target-group-ranges",
        "dev",
        edit(TG, "chat-tg", setter("healthCheck.interval", 1)),
        "healthCheck.interval is 1; AWS allows 5 to 300",
    ),
    (
        "aws-dashboard-limits",
        "dev",
        edit(DASHBOARD, "stack-dashboard", setter("dashboardName", "llm-serving-dev.eu")),
        "dashboardName 'llm-serving-dev.eu'",
    ),
    (
        "aws-alarm-limits",
        "dev",
        edit(ALARM, "chat-errors", setter("alarmActions", ["arn:aws:sns:us-east-1:123456789012:t"] * 6)),
        "alarmActions has 6 actions",
    ),
    (
        "aws-alarm-limits",
        "dev",
        edit(ALARM, "chat-errors", setter("metricQueries.3.returnData", False)),
        "exactly one metric query must return data",
    ),
    (
        "aws-metric-dimensions",
        "dev",
        edit(ALARM, "chat-errors", setter("metricQueries.2.metric.metricName", "HTTPCode_ELB_5XX_Count")),
        "HTTPCode_ELB_5XX_Count is published per {LoadBalancer}",
    ),
    (
        "aws-event-detail-types",
        "dev",
        edit(
            "aws:cloudwatch/eventRule:EventRule",
            "chat-refresh-failed",
            lambda inputs: inputs.update(
                eventPattern=inputs["eventPattern"].replace("Rollback Succeeded", "Rollback Completed")
            ),
        ),
        "'EC2 Auto Scaling Instance Refresh Rollback Completed' is not one AWS sends",
    ),
    (
        "aws-user-data-size",
        "dev",
        edit(LT, "chat-lt", setter("userData", base64.b64encode(b"#" * 17000).decode())),
        "user data is 17000 bytes",
    ),
    (
        "aws-group-limits",
        "dev",
        edit(GROUP, "chat-spot", setter("initialLifecycleHooks.0.heartbeatTimeout", 7201)),
        "heartbeatTimeout is 7201; AWS allows 30 to 7200",
    ),
    (
        "aws-refresh-limits",
        "dev",
        edit(
            "pulumi-python:dynamic/llm-serving:InstanceRefresh",
            "chat-spot-rollout",
            setter("preferences.AlarmSpecification.Alarms", [f"a{i}" for i in range(11)]),
        ),
        "11 rollback alarms",
    ),
    (
        "sagemaker-network-isolation",
        "prod",
        edit("aws:sagemaker/model:Model", "assist-model", setter("enableNetworkIsolation", False)),
        "set enableNetworkIsolation",
    ),
    (
        "sagemaker-network-isolation",
        "prod",
        edit("aws:sagemaker/model:Model", "assist-model", setter("vpcConfig", ...)),
        "set vpcConfig",
    ),
    (
        "sagemaker-no-token",
        "prod",
        edit(
            "aws:sagemaker/model:Model",
            "assist-model",
            setter("primaryContainer.environment.HF_TOKEN", "hf_abcdefghijklmnopqrstuvwxyz0123456789"),
        ),
        "remove HF_TOKEN",
    ),
    (
        "sagemaker-no-token",
        "prod",
        edit(
            "aws:sagemaker/model:Model",
            "assist-model",
            setter("primaryContainer.environment.HF_MODEL_REVISION", "0e9e39f249a16976918f6564b8830bc894c89659"),
        ),
        "remove HF_MODEL_REVISION",
    ),
    (
        "sagemaker-encrypted-volumes",
        "prod",
        edit(
            "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
            "assist-config",
            setter("productionVariants.0.instanceType", "ml.p3.2xlarge"),
        ),
        "ml.p3.2xlarge stores the model on an EBS volume",
    ),
    (
        "sagemaker-alarms",
        "prod",
        drop(ALARM, lambda r: r.name == "assist-latency"),
        "add an alarm on this endpoint's ModelLatency",
    ),
    (
        "sagemaker-alarms",
        "prod",
        edit(
            "aws:sagemaker/endpoint:Endpoint",
            "assist-endpoint",
            setter("deploymentConfig.autoRollbackConfiguration", ...),
        ),
        "roll deployments back on the endpoint's alarms",
    ),
    (
        "aws-schedules",
        "dev",
        edit("aws:autoscaling/schedule:Schedule", "chat-spot-off", setter("timeZone", "US/Pacific")),
        "timeZone 'US/Pacific' is an alias",
    ),
]


@pytest.mark.parametrize(
    ("rule", "stack", "mutate", "message"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_rule_passes_the_stack_and_fails_the_broken_resource(
    rule: str, stack: str, mutate: Mutation, message: str, request: pytest.FixtureRequest
) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    passing = [f for f in findings(plan.resources, rule) if f["level"] == "mandatory"]
    assert passing == []
    failing = findings(mutate(plan.resources), rule)
    assert failing, f"{rule} found nothing wrong"
    assert any(message in f["message"] for f in failing), failing


def test_every_rule_has_a_failing_case() -> None:
    assert {p.name for p in POLICIES} - {c[0] for c in CASES} == {
        "load-balancer-https-internal",
        "secret-policy-not-public",
    }


def test_internal_plain_http_is_advisory_only(dev_plan: Plan, prod_plan: Plan) -> None:
    [finding] = findings(dev_plan.resources, "load-balancer-https-internal")
    assert finding["level"] == "advisory"
    assert findings(prod_plan.resources, "load-balancer-https-internal") == []


def test_secret_policy_rule_flags_a_public_secret_policy(dev_plan: Plan) -> None:
    public = PlannedResource(
        urn="urn:pulumi:dev::llm-serving::aws:secretsmanager/secretPolicy:SecretPolicy::open",
        type="aws:secretsmanager/secretPolicy:SecretPolicy",
        name="open",
        parent="",
        custom=True,
        id="x",
        inputs={
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "*"},
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": "*",
                        }
                    ]
                }
            )
        },
        dependencies=(),
    )
    assert findings([*dev_plan.resources, public], "secret-policy-not-public")[0]["urn"] == public.urn
    assert findings(dev_plan.resources, "secret-policy-not-public") == []


def test_committed_stacks_have_no_mandatory_findings(dev_plan: Plan, prod_plan: Plan) -> None:
    for plan in (dev_plan, prod_plan):
        assert [f for f in plan.findings if f["level"] == "mandatory"] == []


def test_unknown_values_of_a_preview_are_not_violations(dev_plan: Plan) -> None:
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    mutate = edit(GROUP, "chat-spot", setter("healthCheckGracePeriod", unknown))
    assert findings(mutate(dev_plan.resources), "group-grace-covers-model-load") == []


def test_a_public_load_balancer_without_tls_fails_the_offline_plan(tmp_path: Path) -> None:
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"]["llm-serving:loadBalancer"] = {"internal": False, "allowedCidrs": ["0.0.0.0/0"]}
    stack["config"]["llm-serving:models"]["chat"]["capacity"]["warmPool"] = 0
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(stack))
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "bad", "--json", "--project-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    got = {(f["policy"], f["level"]) for f in document["findings"]}
    assert ("load-balancer-https", "mandatory") in got
    assert ("load-balancer-waf", "advisory") in got
    [https] = [f for f in document["findings"] if f["policy"] == "load-balancer-https"]
    assert https["urn"].endswith("::models-http")
    assert "certificateArn" in https["message"]
