"""Policy rules: the security and reliability rules every stack must follow.

One module, two runners:
- the offline plan (``llm-serving plan``) runs them over every planned resource
  (``evaluate``): findings in the JSON and the tree, exit code 1 on a mandatory one;
- the policy pack in ``policy_pack/`` hands ``POLICIES`` to ``pulumi_policy.PolicyPack`` for
  ``pulumi preview --policy-pack policy_pack``.

Rules read resources by their wire (camelCase) properties, as the Pulumi analyzer sees them.
A property not yet known (a preview of a new stack) is never treated as a violation.
Every message says what to change.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.ec2.gpu_fleet import BOOT_SECONDS, ECR_IMAGE_PULL_SECONDS, WARMUP_SECONDS
from components.load_balancer import TLS_POLICY

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

PRODUCTION_TAG = "llm-serving:production"
"""Tag the program puts on the load balancer of a production stack: production rules key on it."""
PUBLIC_TAG = "llm-serving:exposure"
"""Tag whose value ``public`` says a public load balancer is intended (config says so)."""
ALLOWED_TLS_POLICIES = frozenset(
    {TLS_POLICY, "ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"}
)
MIN_GRACE_SECONDS = BOOT_SECONDS + ECR_IMAGE_PULL_SECONDS + WARMUP_SECONDS
"""The least any model needs before its engine can answer: boot, image pull (from ECR, the
fastest), warm-up."""
MIN_LOG_RETENTION_DAYS_PRODUCTION = 30
UNSCOPABLE_ACTIONS = frozenset(
    {
        # Actions AWS does not let a policy scope to a resource.
        "ecr:GetAuthorizationToken",
        "cloudwatch:PutMetricData",
        "sts:GetCallerIdentity",
        "ec2:DescribeInstances",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingInstances",
        "logs:DescribeLogGroups",
        # What SageMaker's execution role reads to attach an endpoint to the VPC.
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
    }
)
_SECRET_PATTERNS = [
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), "a Hugging Face token"),
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), "an AWS access key id"),
    (re.compile(r"aws_secret_access_key\s*[=:]", re.I), "an AWS secret key"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(password|passwd|api[_-]?key|secret[_-]?key)\s*[=:]\s*\S{6,}", re.I), "a password or API key"),
]

Check = Callable[[Mapping[str, Any]], Iterable[str]]
StackCheck = Callable[[Sequence[PolicyResource]], Iterable[tuple[str, str | None]]]


def _known(value: Any) -> bool:
    """A value the rule can judge: present and not an unknown of a preview."""
    return value is not None and not (isinstance(value, str) and value.startswith("04da6b54-"))


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    if not isinstance(document, Mapping):
        return []
    statements = document.get("Statement", [])
    return [s for s in (statements if isinstance(statements, list) else [statements]) if isinstance(s, Mapping)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resource_rule(
    name: str, description: str, types: Sequence[str], check: Check, level: EnforcementLevel = MANDATORY
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in types:
            for message in check(args.props):
                report(message, None)

    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)


def stack_rule(
    name: str, description: str, check: StackCheck, level: EnforcementLevel = MANDATORY
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message, urn in check(args.resources):
            report(message, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)


# ------------------------------------------------------------------ launch templates

LAUNCH_TEMPLATE = ["aws:ec2/launchTemplate:LaunchTemplate"]


def _imdsv2(props: Mapping[str, Any]) -> Iterable[str]:
    tokens = (props.get("metadataOptions") or {}).get("httpTokens")
    if tokens != "required":
        yield "set metadataOptions.httpTokens to 'required' (IMDSv2 only): IMDSv1 lets SSRF read credentials"


def _hop_limit(props: Mapping[str, Any]) -> Iterable[str]:
    hops = (props.get("metadataOptions") or {}).get("httpPutResponseHopLimit")
    if _known(hops) and hops != 1:
        yield (
            f"set metadataOptions.httpPutResponseHopLimit to 1 (is {hops}): "
            "containers on bridge networks must not reach IMDS"
        )
    elif hops is None:
        yield "set metadataOptions.httpPutResponseHopLimit to 1: AWS's default lets more than the host reach IMDS"


def _encrypted_volumes(props: Mapping[str, Any]) -> Iterable[str]:
    for mapping in props.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        if str(ebs.get("encrypted")).lower() != "true":
            yield f"set blockDeviceMappings[{mapping.get('deviceName')}].ebs.encrypted to true"


def _no_public_ip(props: Mapping[str, Any]) -> Iterable[str]:
    for nic in props.get("networkInterfaces") or []:
        if str(nic.get("associatePublicIpAddress")).lower() == "true":
            yield "set networkInterfaces[].associatePublicIpAddress to false: GPU instances live in private subnets"


def _no_secrets_in_user_data(props: Mapping[str, Any]) -> Iterable[str]:
    data = props.get("userData")
    if not isinstance(data, str) or not _known(data):
        return
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8", "replace")
    except ValueError:
        text = data
    for pattern, what in _SECRET_PATTERNS:
        if pattern.search(text):
            yield f"user data contains what looks like {what}: fetch it at boot from Secrets Manager instead"


# ------------------------------------------------------------------------- groups

GROUP = ["aws:autoscaling/group:Group"]


def _group_has_launch_template(props: Mapping[str, Any]) -> Iterable[str]:
    mixed = (props.get("mixedInstancesPolicy") or {}).get("launchTemplate")
    if not props.get("launchTemplate") and not mixed:
        yield "use a launch template (launchTemplate or mixedInstancesPolicy.launchTemplate), not a launch config"


def _group_multi_az(props: Mapping[str, Any]) -> Iterable[str]:
    subnets = props.get("vpcZoneIdentifiers")
    if isinstance(subnets, list) and len(subnets) < 2:
        yield "spread vpcZoneIdentifiers over subnets in at least 2 AZs: one AZ is one outage and one spot pool"


def _group_elb_health(props: Mapping[str, Any]) -> Iterable[str]:
    if props.get("targetGroupArns") and props.get("healthCheckType") != "ELB":
        yield (
            "set healthCheckType to 'ELB': a group behind a target group must replace instances "
            "the load balancer finds unhealthy"
        )


def _group_grace(props: Mapping[str, Any]) -> Iterable[str]:
    grace = props.get("healthCheckGracePeriod", 300)  # AWS's default when unset
    if props.get("healthCheckType") == "ELB" and _known(grace) and grace < MIN_GRACE_SECONDS:
        yield (
            f"set healthCheckGracePeriod to at least {MIN_GRACE_SECONDS} s (is {grace}): health checks "
            "must not kill instances still loading the model"
        )


def _group_rebalance(props: Mapping[str, Any]) -> Iterable[str]:
    distribution = (props.get("mixedInstancesPolicy") or {}).get("instancesDistribution") or {}
    on_demand_share = distribution.get("onDemandPercentageAboveBaseCapacity", 100)
    if (
        props.get("mixedInstancesPolicy")
        and _known(on_demand_share)
        and on_demand_share < 100
        and props.get("capacityRebalance") is not True
    ):
        yield "set capacityRebalance to true: spot instances at risk are replaced before they are interrupted"


def _group_termination_hook(props: Mapping[str, Any]) -> Iterable[str]:
    hooks = props.get("initialLifecycleHooks") or []
    if not any(h.get("lifecycleTransition") == "autoscaling:EC2_INSTANCE_TERMINATING" for h in hooks):
        yield (
            "add an initialLifecycleHooks entry for autoscaling:EC2_INSTANCE_TERMINATING: the worker needs "
            "it to drain in-flight requests on scale-in"
        )


# ----------------------------------------------------------------- load balancers

LOAD_BALANCER = ["aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"]
LISTENER = ["aws:lb/listener:Listener", "aws:alb/listener:Listener"]
TARGET_GROUP = ["aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup"]


def _tags(props: Mapping[str, Any]) -> Mapping[str, str]:
    tags = props.get("tags")
    return tags if isinstance(tags, Mapping) else {}


def _is_production(props: Mapping[str, Any]) -> bool:
    return _tags(props).get(PRODUCTION_TAG) == "true"


def _is_public(props: Mapping[str, Any]) -> bool:
    return props.get("internal") is False


def _lb_invalid_headers(props: Mapping[str, Any]) -> Iterable[str]:
    if props.get("dropInvalidHeaderFields") is not True:
        yield "set dropInvalidHeaderFields to true: malformed headers are a request-smuggling vector"


def _lb_access_logs(props: Mapping[str, Any]) -> Iterable[str]:
    logs = props.get("accessLogs") or {}
    if logs.get("enabled") is not True or not logs.get("bucket"):
        yield "enable accessLogs with a bucket: without them an incident cannot be traced"


def _lb_deletion_protection(props: Mapping[str, Any]) -> Iterable[str]:
    if _is_production(props) and props.get("enableDeletionProtection") is not True:
        yield "set enableDeletionProtection to true on a production load balancer"


def _lb_internal(props: Mapping[str, Any]) -> Iterable[str]:
    if _is_public(props) and _tags(props).get(PUBLIC_TAG) != "public":
        yield (
            f"make the load balancer internal, or say it is meant to be public (loadBalancer.internal: false "
            f"in stack config, which tags it {PUBLIC_TAG}=public)"
        )


def _target_group_health_check(props: Mapping[str, Any]) -> Iterable[str]:
    check = props.get("healthCheck") or {}
    if not check.get("path") or not check.get("matcher"):
        yield "set healthCheck.path (the engine's readiness path) and healthCheck.matcher explicitly"


# ------------------------------------------------------------------------ queues

QUEUE = ["aws:sqs/queue:Queue"]
QUEUE_POLICY = ["aws:sqs/queuePolicy:QueuePolicy"]


def _queue_encrypted(props: Mapping[str, Any]) -> Iterable[str]:
    if props.get("sqsManagedSseEnabled") is not True and not props.get("kmsMasterKeyId"):
        yield "turn on encryption: sqsManagedSseEnabled true or a kmsMasterKeyId"


def _open_statements(document: Any) -> Iterable[str]:
    for s in _statements(document):
        if s.get("Effect") != "Allow":
            continue
        principal = s.get("Principal")
        principals = (
            [principal]
            if isinstance(principal, str)
            else ([v for vs in principal.values() for v in _as_list(vs)] if isinstance(principal, Mapping) else [])
        )
        if "*" in principals and not s.get("Condition"):
            yield "an Allow statement has Principal '*' without a condition: name the principals"
        if any(a in ("*", "sqs:*", "s3:*", "sns:*") for a in _as_list(s.get("Action"))):
            yield "an Allow statement grants every action ('*'): list the actions needed"


def _queue_policy_not_public(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _open_statements(props.get("policy"))


# --------------------------------------------------------------------------- IAM

IDENTITY_POLICY = ["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"]
ROLE = ["aws:iam/role:Role"]


def _iam_wildcards(props: Mapping[str, Any]) -> Iterable[str]:
    for s in _statements(props.get("policy")):
        if s.get("Effect") != "Allow":
            continue
        actions = [a for a in _as_list(s.get("Action")) if isinstance(a, str)]
        if any(a == "*" or a.endswith(":*") for a in actions):
            yield f"statement {s.get('Sid', '')!r} allows a wildcard action: list the actions needed"
        resources = _as_list(s.get("Resource"))
        if "*" in resources and any(a not in UNSCOPABLE_ACTIONS for a in actions):
            scopable = sorted(a for a in actions if a not in UNSCOPABLE_ACTIONS)
            yield (
                f"statement {s.get('Sid', '')!r} grants {', '.join(scopable)} on '*': scope them to the resources' ARNs"
            )


def _trust_specific_service(props: Mapping[str, Any]) -> Iterable[str]:
    for s in _statements(props.get("assumeRolePolicy")):
        if s.get("Effect") != "Allow":
            continue
        principal = s.get("Principal")
        if not isinstance(principal, Mapping):
            yield "the trust policy must name a principal (a specific AWS service), not '*'"
            continue
        for kind, values in principal.items():
            for value in _as_list(values):
                if value == "*" or (kind == "Service" and not str(value).endswith(".amazonaws.com")):
                    yield f"the trust policy trusts {kind} {value!r}: name one AWS service, e.g. ec2.amazonaws.com"


# ----------------------------------------------------------- secrets, buckets, topics, logs


def _topic_encrypted(props: Mapping[str, Any]) -> Iterable[str]:
    if not props.get("kmsMasterKeyId"):
        yield "set kmsMasterKeyId: alarm notifications can carry resource names and account details"


def _log_retention(props: Mapping[str, Any]) -> Iterable[str]:
    if not props.get("retentionInDays"):
        yield "set retentionInDays: logs kept forever cost forever"


def _secret_policy(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _open_statements(props.get("policy"))


def _bucket_policy(props: Mapping[str, Any]) -> Iterable[str]:
    yield from _open_statements(props.get("policy"))


# --------------------------------------------------------------------- stack rules


def _depending_on(resources: Sequence[PolicyResource], target: PolicyResource, type_: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == type_ and any(d.urn == target.urn for d in r.dependencies)]


def _bucket_guards(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    for bucket in (r for r in resources if r.resource_type == "aws:s3/bucket:Bucket"):
        if not bucket.props.get("serverSideEncryptionConfiguration") and not _depending_on(
            resources, bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ):
            yield "add a BucketServerSideEncryptionConfiguration for this bucket", bucket.urn
        blocks = _depending_on(resources, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        if not any(
            all(
                b.props.get(k) is True
                for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            )
            for b in blocks
        ):
            yield "add a BucketPublicAccessBlock with all four settings true for this bucket", bucket.urn
        policies = _depending_on(resources, bucket, "aws:s3/bucketPolicy:BucketPolicy")
        if not any(_denies_insecure_transport(p.props.get("policy")) for p in policies):
            yield "add a bucket policy that denies requests with aws:SecureTransport false", bucket.urn


def _denies_insecure_transport(document: Any) -> bool:
    return any(
        s.get("Effect") == "Deny"
        and (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        for s in _statements(document)
    )


def _topic_tls(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    for topic in (r for r in resources if r.resource_type == "aws:sns/topic:Topic"):
        policies = _depending_on(resources, topic, "aws:sns/topicPolicy:TopicPolicy")
        if not any(_denies_insecure_transport(p.props.get("policy")) for p in policies):
            yield "add a topic policy that denies publishing with aws:SecureTransport false", topic.urn


def _queues(resources: Sequence[PolicyResource]) -> tuple[list[PolicyResource], list[PolicyResource]]:
    """(source queues, dead-letter queues): a dead-letter queue is one another queue redrives to."""
    queues = [r for r in resources if r.resource_type == "aws:sqs/queue:Queue"]
    targets = {d.urn for q in queues if q.props.get("redrivePolicy") for d in q.dependencies}
    return [q for q in queues if q.urn not in targets], [q for q in queues if q.urn in targets]


def _queue_dead_letters(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    sources, dead_letters = _queues(resources)
    by_urn = {q.urn: q for q in dead_letters}
    for queue in sources:
        redrive = queue.props.get("redrivePolicy")
        if not redrive:
            yield "give the queue a dead-letter queue (redrivePolicy): poison messages must not loop forever", queue.urn
            continue
        try:
            count = json.loads(redrive).get("maxReceiveCount") if isinstance(redrive, str) else None
        except json.JSONDecodeError:
            count = None
        if count is not None and count < 2:
            yield f"raise redrivePolicy.maxReceiveCount to at least 2 (is {count})", queue.urn
        retention = queue.props.get("messageRetentionSeconds", 345600)
        for dlq in (by_urn[d.urn] for d in queue.dependencies if d.urn in by_urn):
            dlq_retention = dlq.props.get("messageRetentionSeconds", 345600)
            if _known(retention) and _known(dlq_retention) and dlq_retention <= retention:
                yield (
                    (
                        f"keep dead letters longer than requests: the dead-letter queue keeps {dlq_retention} s, "
                        f"the queue {retention} s"
                    ),
                    dlq.urn,
                )


def _alarms_on(resources: Sequence[PolicyResource], target: PolicyResource) -> list[PolicyResource]:
    return _depending_on(resources, target, "aws:cloudwatch/metricAlarm:MetricAlarm")


def _alarm_metric_names(alarm: PolicyResource) -> set[str]:
    names = {alarm.props.get("metricName")}
    for q in alarm.props.get("metricQueries") or []:
        names.add((q.get("metric") or {}).get("metricName"))
    return {n for n in names if n}


def _dead_letter_alarms(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    _, dead_letters = _queues(resources)
    for dlq in dead_letters:
        if not any("ApproximateNumberOfMessagesVisible" in _alarm_metric_names(a) for a in _alarms_on(resources, dlq)):
            yield "add an alarm on this dead-letter queue's ApproximateNumberOfMessagesVisible", dlq.urn


def _user_facing_alarms(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    for tg in (r for r in resources if r.resource_type in TARGET_GROUP):
        watched = set().union(*[_alarm_metric_names(a) for a in _alarms_on(resources, tg)] or [set()])
        for metric in ("HTTPCode_Target_5XX_Count", "TargetResponseTime", "UnHealthyHostCount"):
            if metric not in watched:
                yield f"add an alarm on this target group's {metric}", tg.urn
    sources, _ = _queues(resources)
    for queue in sources:
        watched = set().union(*[_alarm_metric_names(a) for a in _alarms_on(resources, queue)] or [set()])
        if "ApproximateAgeOfOldestMessage" not in watched:
            yield "add an alarm on this queue's ApproximateAgeOfOldestMessage", queue.urn


# ------------------------------------------------------------------ SageMaker

SAGEMAKER_MODEL = ["aws:sagemaker/model:Model"]
SAGEMAKER_CONFIG = ["aws:sagemaker/endpointConfiguration:EndpointConfiguration"]
SAGEMAKER_ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
LOCAL_NVME_FAMILIES = ("ml.g4dn.", "ml.g5.", "ml.g6.", "ml.g6e.", "ml.p4d.", "ml.p5.")
"""SageMaker GPU families with local NVMe storage, which the instance's hardware encrypts and
for which SageMaker refuses a KMS key (CreateEndpointConfig, KmsKeyId; docs/reference.md#sagemaker)."""


def _sagemaker_isolated(props: Mapping[str, Any]) -> Iterable[str]:
    if props.get("enableNetworkIsolation") is not True:
        yield "set enableNetworkIsolation: the container loads its weights from S3 and needs no network"
    vpc = props.get("vpcConfig") or {}
    if not vpc.get("subnets") or not vpc.get("securityGroupIds"):
        yield "set vpcConfig (private subnets and a security group): SageMaker copies the weights through it"


def _sagemaker_no_token(props: Mapping[str, Any]) -> Iterable[str]:
    for container in [props.get("primaryContainer") or {}, *(props.get("containers") or [])]:
        env = container.get("environment") or {}
        for key, value in env.items():
            if key in {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "SM_VLLM_HF_TOKEN"} or (
                isinstance(value, str) and _SECRET_PATTERNS[0][0].search(value)
            ):
                yield (
                    f"remove {key} from the container's environment: anyone who may describe the model "
                    "reads it; staged weights need no token"
                )
            if key in {"HF_MODEL_REVISION"}:
                yield "remove HF_MODEL_REVISION: with a revision, TGI asks the Hub instead of loading the local copy"


def _sagemaker_volume_encrypted(props: Mapping[str, Any]) -> Iterable[str]:
    if props.get("kmsKeyArn"):
        return
    for variant in props.get("productionVariants") or []:
        instance_type = str(variant.get("instanceType", ""))
        if not instance_type.startswith(LOCAL_NVME_FAMILIES):
            yield (
                f"{instance_type} stores the model on an EBS volume: set kmsKeyArn to encrypt it "
                "(types with local NVMe are encrypted by their hardware)"
            )


def _sagemaker_alarms(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    alarm_names = {
        r.props.get("name") for r in resources if r.resource_type == "aws:cloudwatch/metricAlarm:MetricAlarm"
    }
    for endpoint in (r for r in resources if r.resource_type == SAGEMAKER_ENDPOINT):
        watched = set().union(*[_alarm_metric_names(a) for a in _alarms_on(resources, endpoint)] or [set()])
        for metric in ("Invocation5XXErrors", "ModelLatency"):
            if metric not in watched:
                yield f"add an alarm on this endpoint's {metric}", endpoint.urn
        rollback = ((endpoint.props.get("deploymentConfig") or {}).get("autoRollbackConfiguration") or {}).get(
            "alarms"
        ) or []
        if not rollback:
            yield (
                "roll deployments back on the endpoint's alarms (deploymentConfig.autoRollbackConfiguration)",
                endpoint.urn,
            )
        for alarm in rollback:
            if alarm.get("alarmName") not in alarm_names:
                yield f"the rollback alarm {alarm.get('alarmName')!r} is not in the stack", endpoint.urn


def _production_relaxations(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    if not any(r.resource_type in LOAD_BALANCER and _is_production(r.props) for r in resources):
        return
    for r in resources:
        if r.resource_type == "aws:s3/bucket:Bucket" and r.props.get("forceDestroy") is True:
            yield "production buckets must not set forceDestroy: a destroy would delete their data", r.urn
        if r.resource_type == "aws:autoscaling/schedule:Schedule" and r.props.get("maxSize") == 0:
            yield "production models must not be switched off by a schedule (a dev-only saving)", r.urn
        retention = r.props.get("retentionInDays")
        if (
            r.resource_type == "aws:cloudwatch/logGroup:LogGroup"
            and isinstance(retention, int)
            and retention < MIN_LOG_RETENTION_DAYS_PRODUCTION
        ):
            yield f"keep production logs at least {MIN_LOG_RETENTION_DAYS_PRODUCTION} days (is {retention})", r.urn
    subnets = [
        r
        for r in resources
        if r.resource_type == "aws:ec2/subnet:Subnet" and r.props.get("tags", {}).get("kubernetes.io/role/elb") == "1"
    ]
    nats = [r for r in resources if r.resource_type == "aws:ec2/natGateway:NatGateway"]
    if nats and len(nats) < len(subnets):
        yield "production needs a NAT gateway per AZ (network.natGateways: perAz)", nats[0].urn


def _listeners_tls(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    for listener in (r for r in resources if r.resource_type in LISTENER):
        balancers = [d for d in listener.dependencies if d.resource_type in LOAD_BALANCER]
        public = any(_is_public(b.props) for b in balancers)
        protocol = listener.props.get("protocol")
        if protocol == "HTTPS":
            if listener.props.get("sslPolicy") not in ALLOWED_TLS_POLICIES:
                yield (
                    (
                        f"use an allowed TLS policy ({', '.join(sorted(ALLOWED_TLS_POLICIES))}), "
                        f"not {listener.props.get('sslPolicy')!r}"
                    ),
                    listener.urn,
                )
            continue
        actions = listener.props.get("defaultActions") or []
        redirects = any(
            a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS" for a in actions
        )
        if protocol == "HTTP" and not redirects and public:
            yield (
                (
                    "a public load balancer must serve HTTPS: set loadBalancer.certificateArn so HTTP only "
                    "redirects to HTTPS"
                ),
                listener.urn,
            )


def _listeners_tls_internal(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    for listener in (r for r in resources if r.resource_type in LISTENER):
        balancers = [d for d in listener.dependencies if d.resource_type in LOAD_BALANCER]
        actions = listener.props.get("defaultActions") or []
        redirects = any(a.get("type") == "redirect" for a in actions)
        if (
            listener.props.get("protocol") == "HTTP"
            and not redirects
            and balancers
            and not any(_is_public(b.props) for b in balancers)
        ):
            yield (
                "internal traffic is plain HTTP: set loadBalancer.certificateArn to encrypt it in the VPC too",
                listener.urn,
            )


def _waf_when_public(resources: Sequence[PolicyResource]) -> Iterable[tuple[str, str | None]]:
    associations = [r for r in resources if r.resource_type == "aws:wafv2/webAclAssociation:WebAclAssociation"]
    for lb in (r for r in resources if r.resource_type in LOAD_BALANCER and _is_public(r.props)):
        if not any(any(d.urn == lb.urn for d in a.dependencies) for a in associations):
            yield "associate a WAF web ACL with this public load balancer (rate limits, bad inputs)", lb.urn


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    resource_rule("launch-template-imdsv2", "Launch templates require IMDSv2.", LAUNCH_TEMPLATE, _imdsv2),
    resource_rule(
        "launch-template-hop-limit",
        "Instance metadata answers the host only (hop limit 1).",
        LAUNCH_TEMPLATE,
        _hop_limit,
    ),
    resource_rule(
        "launch-template-encrypted-volumes", "Every volume is encrypted.", LAUNCH_TEMPLATE, _encrypted_volumes
    ),
    resource_rule("launch-template-no-public-ip", "Instances get no public IP.", LAUNCH_TEMPLATE, _no_public_ip),
    resource_rule(
        "launch-template-no-secrets-in-user-data",
        "User data holds no secret.",
        LAUNCH_TEMPLATE,
        _no_secrets_in_user_data,
    ),
    resource_rule("group-launch-template", "Groups launch from a launch template.", GROUP, _group_has_launch_template),
    resource_rule("group-multi-az", "Groups span at least 2 AZs.", GROUP, _group_multi_az),
    resource_rule(
        "group-elb-health-check", "Groups behind a target group use ELB health checks.", GROUP, _group_elb_health
    ),
    resource_rule(
        "group-grace-covers-model-load", "The health-check grace period covers model load.", GROUP, _group_grace
    ),
    resource_rule("group-spot-capacity-rebalance", "Groups with spot use capacity rebalance.", GROUP, _group_rebalance),
    resource_rule(
        "group-termination-hook",
        "Groups carry a termination lifecycle hook for draining.",
        GROUP,
        _group_termination_hook,
    ),
    resource_rule(
        "load-balancer-drops-invalid-headers",
        "Load balancers drop invalid header fields.",
        LOAD_BALANCER,
        _lb_invalid_headers,
    ),
    resource_rule("load-balancer-access-logs", "Load balancers write access logs.", LOAD_BALANCER, _lb_access_logs),
    resource_rule(
        "load-balancer-deletion-protection",
        "Production load balancers have deletion protection.",
        LOAD_BALANCER,
        _lb_deletion_protection,
    ),
    resource_rule(
        "load-balancer-internal",
        "Load balancers are internal unless public is configured.",
        LOAD_BALANCER,
        _lb_internal,
    ),
    stack_rule("load-balancer-https", "Public load balancers serve HTTPS with an allowed TLS policy.", _listeners_tls),
    stack_rule(
        "load-balancer-https-internal",
        "Internal load balancers should serve HTTPS too.",
        _listeners_tls_internal,
        ADVISORY,
    ),
    stack_rule("load-balancer-waf", "Public load balancers should have a WAF.", _waf_when_public, ADVISORY),
    resource_rule(
        "target-group-health-check",
        "Target groups set their health check path and matcher.",
        TARGET_GROUP,
        _target_group_health_check,
    ),
    resource_rule("queue-encrypted", "Queues are encrypted.", QUEUE, _queue_encrypted),
    stack_rule(
        "queue-dead-letter",
        "Queues have a dead-letter queue (maxReceiveCount >= 2) that outlives them.",
        _queue_dead_letters,
    ),
    resource_rule(
        "queue-policy-not-public",
        "Queue policies are never public or wildcard.",
        QUEUE_POLICY,
        _queue_policy_not_public,
    ),
    resource_rule(
        "iam-no-wildcards", "IAM policies name actions and scope resources.", IDENTITY_POLICY, _iam_wildcards
    ),
    resource_rule("iam-trust-specific-service", "Roles trust one named AWS service.", ROLE, _trust_specific_service),
    resource_rule(
        "secret-policy-not-public",
        "Secret policies are never public.",
        ["aws:secretsmanager/secretPolicy:SecretPolicy"],
        _secret_policy,
    ),
    resource_rule(
        "bucket-policy-not-public",
        "Bucket policies are never public.",
        ["aws:s3/bucketPolicy:BucketPolicy"],
        _bucket_policy,
    ),
    stack_rule("bucket-guards", "Buckets are encrypted, block public access and require TLS.", _bucket_guards),
    resource_rule("topic-encrypted", "Topics are encrypted.", ["aws:sns/topic:Topic"], _topic_encrypted),
    stack_rule("topic-tls-only", "Topics refuse publishing without TLS.", _topic_tls),
    resource_rule("log-retention", "Log groups set a retention.", ["aws:cloudwatch/logGroup:LogGroup"], _log_retention),
    stack_rule("dead-letter-alarm", "Every dead-letter queue has an alarm.", _dead_letter_alarms),
    stack_rule(
        "user-facing-alarms", "Every model has alarms on errors, latency, health and queue age.", _user_facing_alarms
    ),
    stack_rule(
        "production-no-dev-relaxations", "Production stacks use no dev-only relaxation.", _production_relaxations
    ),
    resource_rule(
        "sagemaker-network-isolation",
        "SageMaker models run isolated from the network, in the VPC.",
        SAGEMAKER_MODEL,
        _sagemaker_isolated,
    ),
    resource_rule(
        "sagemaker-no-token", "SageMaker models hold no Hugging Face token.", SAGEMAKER_MODEL, _sagemaker_no_token
    ),
    resource_rule(
        "sagemaker-encrypted-volumes",
        "SageMaker instances' storage is encrypted.",
        SAGEMAKER_CONFIG,
        _sagemaker_volume_encrypted,
    ),
    stack_rule(
        "sagemaker-alarms", "Every endpoint has error and latency alarms that roll deployments back.", _sagemaker_alarms
    ),
]


# What AWS accepts (characters, ranges, quotas): infra/aws_limits.py.
from infra.aws_limits import rules as _aws_rules  # noqa: E402 - its rules are built with stack_rule above

POLICIES += _aws_rules()


# ------------------------------------------------------------- the offline runner


def _options(parent: str | None) -> PolicyResourceOptions:
    from pulumi_policy.policy import PolicyCustomTimeouts

    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def evaluate(
    resources: Sequence[Any], policies: Sequence[ResourceValidationPolicy | StackValidationPolicy] = POLICIES
) -> list[dict[str, str]]:
    """Run ``policies`` over planned resources (``infra.plan.PlannedResource``): the findings
    of the plan's JSON, as ``{"policy", "level", "urn", "message"}``."""
    findings: list[dict[str, str]] = []
    custom = [r for r in resources if r.custom]
    views: dict[str, PolicyResource] = {}
    for r in custom:
        views[r.urn] = PolicyResource(r.type, _plain(r.inputs), r.urn, r.name, _options(r.parent), None, None, [], {})
    for r in custom:
        views[r.urn].dependencies = [views[d] for d in r.dependencies if d in views]
    for policy in policies:
        level = (policy.enforcement_level or MANDATORY).value

        def report(
            message: str, urn: str | None, *, _default: str = "", _name: str = policy.name, _level: str = level
        ) -> None:
            findings.append({"policy": _name, "level": _level, "urn": urn or _default, "message": message})

        if isinstance(policy, ResourceValidationPolicy):
            for r in custom:
                args = ResourceValidationArgs(r.type, views[r.urn].props, r.urn, r.name, views[r.urn].opts, None)
                policy.validate(args, functools.partial(_report_on, report, r.urn))
        else:
            policy.validate(StackValidationArgs(list(views.values())), lambda m, u: report(m, u))
    return findings


def _report_on(report: Callable[..., None], resource_urn: str, message: str, urn: str | None) -> None:
    """A resource rule's violation, recorded against the resource being validated."""
    report(message, urn, _default=resource_urn)


def _plain(value: Any) -> Any:
    """Wire values as the analyzer sees them: secrets unwrapped, numbers as numbers."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
