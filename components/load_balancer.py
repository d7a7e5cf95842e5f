"""One Application Load Balancer shared by the stack's models, and a route per model.

``ModelLoadBalancer`` creates: the ALB (internal by default), its security group (HTTP/HTTPS
from the allowed CIDRs only), an encrypted bucket for access logs, an HTTPS listener with a
TLS 1.2/1.3 policy when a certificate is given (HTTP then only redirects), else an HTTP
listener. Unknown paths get a JSON 404.

``ModelRoute`` creates, per model: a target group whose health check is the engine's
readiness path, and a listener rule that sends ``/models/<name>/...`` to it, rewriting the
path to ``/...`` so the engine sees its own routes (``/v1/chat/completions``, ``/health``).

Defaults: 600 s idle timeout (streamed generations); invalid header fields dropped;
desync mitigation ``defensive``; least-outstanding-requests routing (LLM requests are long
and uneven); health check every 10 s, ready after 2 passes (about 20 s), unhealthy only
after 10 failures in a row (100 s), because TGI's /health is reported to flap under load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from components._bucket import private_bucket

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
"""TLS 1.3 and 1.2 only, AWS's recommended policy."""
DEFAULT_IDLE_TIMEOUT_SECONDS = 600
"""AWS's 60 s default cuts streamed generations that pause between tokens or run long."""
HEALTH_CHECK_INTERVAL_SECONDS = 10
HEALTH_CHECK_TIMEOUT_SECONDS = 8
HEALTHY_THRESHOLD = 2
"""A ready engine takes traffic within 2 x 10 s."""
UNHEALTHY_THRESHOLD = 10
"""AWS's maximum: a busy engine must fail 100 s in a row before it loses traffic."""
ACCESS_LOG_RETENTION_DAYS = 90


def model_path_prefix(model: str) -> str:
    """Where clients address a model: ``/models/<name>/`` + the engine's own route."""
    return f"/models/{model}/"


@dataclass(frozen=True, kw_only=True)
class ModelLoadBalancerArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets for an internal ALB, public ones for a public ALB."""
    allowed_cidrs: pulumi.Input[Sequence[str]]
    """Who may connect (the VPC's range by default in the program)."""
    internal: bool = True
    """Internal unless the stack says otherwise: models are not on the internet by default."""
    certificate_arn: str | None = None
    """ACM certificate: HTTPS on 443 and HTTP redirected to it. None serves plain HTTP."""
    idle_timeout_seconds: int = DEFAULT_IDLE_TIMEOUT_SECONDS
    enable_deletion_protection: bool = False
    """On for production stacks: a stray `pulumi destroy` must not take the endpoint away."""
    force_destroy_logs: bool = False
    """Let `pulumi destroy` delete the access-log bucket with its logs (dev stacks)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the load balancer (the program marks production and intended public exposure)."""


class ModelLoadBalancer(pulumi.ComponentResource):
    load_balancer: aws.lb.LoadBalancer
    """Escape hatch: the ALB."""
    dns_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    """Instances allow the engine port from this group only."""
    listener_arn: pulumi.Output[str]
    """The listener models' routes attach to (HTTPS when there is a certificate)."""
    arn_suffix: pulumi.Output[str]
    """The ``LoadBalancer`` dimension of its CloudWatch metrics."""
    scheme: str

    def __init__(self, name: str, args: ModelLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:ModelLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        https = args.certificate_arn is not None
        self.scheme = "https" if https else "http"
        ports = [443, 80] if https else [80]
        sg = aws.ec2.SecurityGroup(
            f"{name}-alb",
            vpc_id=args.vpc_id,
            description="Clients to the model load balancer",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=p,
                    to_port=p,
                    cidr_blocks=args.allowed_cidrs,
                    description=f"clients on {p}",
                )
                for p in ports
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp",
                    from_port=1024,
                    to_port=65535,
                    cidr_blocks=["0.0.0.0/0"],
                    description="to the engine ports on the instances",
                )
            ],
            opts=child,
        )
        logs = self._access_log_bucket(name, args.force_destroy_logs)
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=args.internal,
            subnets=args.subnet_ids,
            security_groups=[sg.id],
            idle_timeout=args.idle_timeout_seconds,
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            enable_deletion_protection=args.enable_deletion_protection,
            enable_http2=True,
            tags=dict(args.tags),
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=logs.bucket, enabled=True, prefix="alb"),
            opts=child,
        )
        not_found = aws.lb.ListenerDefaultActionArgs(
            type="fixed-response",
            fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                content_type="application/json",
                status_code="404",
                message_body=json.dumps({"error": "no such model; use /models/<name>/..."}),
            ),
        )
        if https:
            listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.load_balancer.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=args.certificate_arn,
                default_actions=[not_found],
                opts=child,
            )
            aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=self.load_balancer.arn,
                port=80,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                            port="443", protocol="HTTPS", status_code="HTTP_301"
                        ),
                    )
                ],
                opts=child,
            )
        else:
            listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=self.load_balancer.arn,
                port=80,
                protocol="HTTP",
                default_actions=[not_found],
                opts=child,
            )
        self.dns_name = self.load_balancer.dns_name
        self.security_group_id = sg.id
        self.listener_arn = listener.arn
        self.arn_suffix = self.load_balancer.arn_suffix
        self.register_outputs({"dns_name": self.dns_name, "listener_arn": self.listener_arn})

    def url(self, path: str = "") -> pulumi.Output[str]:
        """The load balancer's URL (its scheme and DNS name), with ``path`` (a route's prefix)."""
        return self.dns_name.apply(lambda d: f"{self.scheme}://{d}{path}")

    def _access_log_bucket(self, name: str, force_destroy: bool) -> aws.s3.Bucket:
        # The region's Elastic Load Balancing account writes the logs.
        elb_account = aws.elb.get_service_account_output(opts=pulumi.InvokeOptions(parent=self)).arn
        return private_bucket(
            f"{name}-access-logs",
            self,
            force_destroy=force_destroy,
            expiration_days=ACCESS_LOG_RETENTION_DAYS,
            expire_prefix="",
            allow=lambda bucket_arn: [
                {
                    "Sid": "ElbLogDelivery",
                    "Effect": "Allow",
                    "Principal": {"AWS": elb_account},
                    "Action": "s3:PutObject",
                    "Resource": bucket_arn.apply(lambda a: f"{a}/alb/*"),
                }
            ],
        )


@dataclass(frozen=True, kw_only=True)
class ModelRouteArgs:
    vpc_id: pulumi.Input[str]
    listener_arn: pulumi.Input[str]
    engine_port: int
    readiness_path: str
    priority: int
    """Listener rule priority (1 to 50000), unique per listener; the program derives it."""
    deregistration_delay_seconds: int
    """At least the longest generation allowed, so scale-in never cuts a response."""
    target_type: Literal["instance", "ip"] = "instance"
    """`instance` (default): EC2 instances register on the engine port (host networking).
    `ip`: pods register by their own address (EKS, through a TargetGroupBinding)."""
    tags: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Tags of the target group (EKS Auto Mode acts only on target groups tagged with its
    cluster's name)."""


class ModelRoute(pulumi.ComponentResource):
    target_group: aws.lb.TargetGroup
    target_group_arn: pulumi.Output[str]
    arn_suffix: pulumi.Output[str]
    """The ``TargetGroup`` dimension of its CloudWatch metrics."""
    path_prefix: str

    def __init__(self, name: str, args: ModelRouteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:ModelRoute", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.path_prefix = model_path_prefix(name)
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            vpc_id=args.vpc_id,
            port=args.engine_port,
            protocol="HTTP",
            target_type=args.target_type,
            load_balancing_algorithm_type="least_outstanding_requests",
            deregistration_delay=args.deregistration_delay_seconds,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                path=args.readiness_path,
                port="traffic-port",
                protocol="HTTP",
                matcher="200",
                interval=HEALTH_CHECK_INTERVAL_SECONDS,
                timeout=HEALTH_CHECK_TIMEOUT_SECONDS,
                healthy_threshold=HEALTHY_THRESHOLD,
                unhealthy_threshold=UNHEALTHY_THRESHOLD,
            ),
            tags=dict(args.tags) if args.tags else None,
            opts=child,
        )
        escaped = self.path_prefix.replace("-", "\\-")
        aws.lb.ListenerRule(
            f"{name}-route",
            listener_arn=args.listener_arn,
            priority=args.priority,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=[f"{self.path_prefix}*"])
                )
            ],
            transforms=[
                aws.lb.ListenerRuleTransformArgs(
                    type="url-rewrite",
                    url_rewrite_config=aws.lb.ListenerRuleTransformUrlRewriteConfigArgs(
                        rewrite=aws.lb.ListenerRuleTransformUrlRewriteConfigRewriteArgs(
                            regex=f"^{escaped}(.*)$", replace="/$1"
                        )
                    ),
                )
            ],
            actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=self.target_group.arn)],
            opts=child,
        )
        self.target_group_arn = self.target_group.arn
        self.arn_suffix = self.target_group.arn_suffix
        self.register_outputs({"target_group_arn": self.target_group_arn})
