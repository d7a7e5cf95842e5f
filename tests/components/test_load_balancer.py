"""ModelLoadBalancer and ModelRoute: a hardened shared ALB, a route per model."""

from __future__ import annotations

import json
from typing import Any

import pulumi

from components.load_balancer import (
    TLS_POLICY,
    ModelLoadBalancer,
    ModelLoadBalancerArgs,
    ModelRoute,
    ModelRouteArgs,
)
from infra.plan import Plan, run_program

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"


def plan_lb(**changes: Any) -> Plan:
    values: dict[str, Any] = dict(
        vpc_id="vpc-0abc12345", subnet_ids=["subnet-1", "subnet-2"], allowed_cidrs=["10.0.0.0/16"]
    )
    values.update(changes)

    def program() -> None:
        lb = ModelLoadBalancer("models", ModelLoadBalancerArgs(**values))
        ModelRoute(
            "chat",
            ModelRouteArgs(
                vpc_id="vpc-0abc12345",
                listener_arn=lb.listener_arn,
                engine_port=8080,
                readiness_path="/health",
                priority=7,
                deregistration_delay_seconds=300,
            ),
        )
        pulumi.export("listener", lb.listener_arn)

    return run_program(program)


def test_alb_is_internal_hardened_and_logs_access() -> None:
    plan = plan_lb()
    alb = plan.named("aws:lb/loadBalancer:LoadBalancer", "models-alb")
    assert alb.input("internal") is True
    assert alb.input("dropInvalidHeaderFields") is True
    assert alb.input("desyncMitigationMode") == "defensive"
    assert alb.input("idleTimeout") == 600
    assert alb.input("accessLogs")["enabled"] is True
    assert (
        alb.input("accessLogs")["bucket"]
        == plan.named("aws:s3/bucket:Bucket", "models-access-logs-bucket").outputs["bucket"]
    )


def test_access_log_bucket_is_encrypted_private_and_writable_by_elb_only() -> None:
    plan = plan_lb()
    policy = json.loads(plan.named("aws:s3/bucketPolicy:BucketPolicy", "models-access-logs-policy").input("policy"))
    [allow] = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"AWS": "arn:aws:iam::127311923021:root"}
    assert allow["Action"] == "s3:PutObject"
    assert (
        plan.named("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "models-access-logs-public-access").input(
            "restrictPublicBuckets"
        )
        is True
    )


def test_without_a_certificate_one_http_listener_serves() -> None:
    plan = plan_lb()
    [listener] = plan.of_type("aws:lb/listener:Listener")
    assert (listener.input("port"), listener.input("protocol")) == (80, "HTTP")
    assert listener.input("defaultActions")[0]["fixedResponse"]["statusCode"] == "404"


def test_with_a_certificate_https_serves_tls13_and_http_redirects() -> None:
    plan = plan_lb(certificate_arn=CERT, enable_deletion_protection=True)
    listeners = {r.name: r for r in plan.of_type("aws:lb/listener:Listener")}
    https, http = listeners["models-https"], listeners["models-http"]
    assert (https.input("port"), https.input("protocol"), https.input("sslPolicy")) == (443, "HTTPS", TLS_POLICY)
    assert https.input("certificateArn") == CERT
    redirect = http.input("defaultActions")[0]
    assert redirect["type"] == "redirect" and redirect["redirect"]["protocol"] == "HTTPS"
    assert plan.outputs["listener"] == https.outputs["arn"]
    assert plan.named("aws:lb/loadBalancer:LoadBalancer", "models-alb").input("enableDeletionProtection") is True


def test_security_group_admits_only_the_allowed_cidrs() -> None:
    plan = plan_lb(certificate_arn=CERT)
    rules = plan.named("aws:ec2/securityGroup:SecurityGroup", "models-alb").input("ingress")
    assert sorted((r["fromPort"], tuple(r["cidrBlocks"])) for r in rules) == [
        (80, ("10.0.0.0/16",)),
        (443, ("10.0.0.0/16",)),
    ]


def test_target_group_checks_readiness_fast_yet_tolerantly() -> None:
    plan = plan_lb()
    tg = plan.named("aws:lb/targetGroup:TargetGroup", "chat-tg")
    check = tg.input("healthCheck")
    assert check["path"] == "/health" and check["matcher"] == "200"
    assert check["interval"] * check["healthyThreshold"] <= 20
    assert check["interval"] * check["unhealthyThreshold"] >= 90
    assert check["timeout"] < check["interval"]
    assert tg.input("loadBalancingAlgorithmType") == "least_outstanding_requests"
    assert tg.input("deregistrationDelay") == 300
    assert tg.input("port") == 8080


def test_route_sends_the_models_path_to_its_target_group_and_strips_the_prefix() -> None:
    plan = plan_lb()
    rule = plan.named("aws:lb/listenerRule:ListenerRule", "chat-route")
    assert rule.input("conditions")[0]["pathPattern"]["values"] == ["/models/chat/*"]
    rewrite = rule.input("transforms")[0]
    assert rewrite["type"] == "url-rewrite"
    assert rewrite["urlRewriteConfig"]["rewrite"] == {"regex": "^/models/chat/(.*)$", "replace": "/$1"}
    assert (
        rule.input("actions")[0]["targetGroupArn"]
        == plan.named("aws:lb/targetGroup:TargetGroup", "chat-tg").outputs["arn"]
    )
    assert rule.input("priority") == 7


def test_a_route_registers_instances_by_default_and_pods_by_ip_when_asked() -> None:
    def program(target_type: str | None) -> None:
        extra: dict[str, Any] = {"target_type": target_type, "tags": {"eks:eks-cluster-name": "ml"}}
        ModelRoute(
            "chat",
            ModelRouteArgs(
                vpc_id="vpc-0abc12345",
                listener_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/y/z",
                engine_port=8080,
                readiness_path="/health",
                priority=7,
                deregistration_delay_seconds=300,
                **(extra if target_type else {}),
            ),
        )

    default = run_program(lambda: program(None)).named("aws:lb/targetGroup:TargetGroup", "chat-tg")
    ip = run_program(lambda: program("ip")).named("aws:lb/targetGroup:TargetGroup", "chat-tg")
    assert default.input("targetType") == "instance" and "tags" not in default.inputs
    assert ip.input("targetType") == "ip" and ip.input("tags") == {"eks:eks-cluster-name": "ml"}
