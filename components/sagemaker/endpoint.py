"""One model on a SageMaker real-time endpoint, loading its weights from S3 with no network.

Creates: the execution role (its own weights prefix, its image's repository, its own log
group, its metrics namespace, the VPC interfaces SageMaker makes for it), a security group
with no ingress, the model (network isolation, uncompressed S3 model data, no token), an
endpoint configuration (one variant of fixed name, least-outstanding-requests routing,
startup timeouts sized for the model), the endpoint with its deployment policy and
automatic rollback, and Application Auto Scaling on the variant: target tracking on
concurrent requests (SageMaker's high-resolution metric) and on queue backlog per
instance, with scheduled actions when the model has a schedule.

Upgrades (docs/reference.md#sagemaker, "Updating an endpoint"):
- the model and the endpoint configuration are immutable in SageMaker: any change makes a
  new one, named by a hash of its content (``llm-<stack>-<model>-<hash>``), so the new one is
  created before the old one is deleted and the plan shows the change; the endpoint is
  updated in place to it, through its deployment policy;
- both are kept when Pulumi replaces them (``retain_on_delete``): the provider can record
  a rollback SageMaker made as a success and would then delete the configuration and model
  the endpoint still runs on (terraform-provider-aws #48997, #46663); `llm-serving rollout
  wait` compares the configuration the endpoint runs with the stack's and fails on a
  rollback. Kept models and configurations are metadata only: they cost nothing;
- a new instance type is a new endpoint (its name holds the type): SageMaker refuses to
  change the instance type of a variant that has a scalable target.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components import _ecr, _metrics, _policy
from components.network import https_egress
from components.sagemaker.schedule import aws_cron
from components.schedule import Schedule
from model_server import metrics

VARIANT_NAME = "AllTraffic"
"""Fixed: left unset, the provider draws a random name, and both a deployment (the new
configuration must keep the variant's name) and the scalable target's id
(``endpoint/NAME/variant/VARIANT``) break on the next change."""
ROUTING_STRATEGY = "LEAST_OUTSTANDING_REQUESTS"
"""Generations vary from milliseconds to minutes: send each request to the instance with
the fewest in flight rather than at random."""
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 600
"""Scale out within a minute of a burst; scale in slowly, since a new instance takes a
model load."""
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOKE_ACTIONS = (
    "sagemaker:InvokeEndpoint",
    "sagemaker:InvokeEndpointWithResponseStream",
    "sagemaker:DescribeEndpoint",
)
"""What the queue worker calls on its endpoint (model_server.worker.sagemaker.IAM_ACTIONS,
kept equal by a test; not imported, so the plan does not load boto3)."""

Strategy = Literal["allAtOnce", "canary", "linear", "rolling"]


@dataclass(frozen=True, kw_only=True)
class DeploymentPolicy:
    """How SageMaker moves the endpoint to a new configuration (``DeploymentConfig``). No
    defaults here: the stack config holds them, with their reasons (infra/config.py,
    SageMakerDeploymentConfig)."""

    strategy: Strategy
    """Blue/green (``allAtOnce``, ``canary``, ``linear``: a new fleet, then traffic moves to
    it) or ``rolling`` (instances replaced in batches, no second fleet)."""
    step_percent: int
    """Canary size, linear step or rolling batch, in percent of the variant's capacity."""
    wait_seconds: int
    """Between traffic steps or batches: the alarms' window to catch a bad version."""
    bake_seconds: int
    """Blue/green: how long the old fleet stays after all traffic moved."""
    max_seconds: int
    """The whole update's limit, after which SageMaker rolls back."""


@dataclass(frozen=True, kw_only=True)
class SageMakerEndpointArgs:
    model: str
    name_prefix: str
    """``llm-<stack>-<model>-``: the role's description and log names start with it."""
    endpoint_name: str
    """The endpoint's name: fixed, so clients and the worker find it; holds the instance type."""
    image: str
    """AWS's SageMaker container of the engine, or the model's own image (ECR only)."""
    environment: Mapping[str, str]
    """The container's environment (``model_server.engines.sagemaker_environment``)."""
    weights_s3_uri: pulumi.Input[str]
    """``s3://bucket/<modelId>/<revision>/``: SageMaker copies it to /opt/ml/model."""
    weights_read_policy_json: pulumi.Input[str]
    instance_type: str
    min_instances: int = 1
    max_instances: int = 2
    startup_timeout_seconds: int = 1800
    """ContainerStartupHealthCheckTimeoutInSeconds (60 to 3600): the model's load time."""
    download_timeout_seconds: int = 1200
    """ModelDataDownloadTimeoutInSeconds (60 to 3600): the weights' copy from S3."""
    inference_ami_version: str = "al2-ami-sagemaker-inference-gpu-3-1"
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    deployment: DeploymentPolicy
    rollback_alarm_names: Sequence[str] = ()
    """Alarms that roll a deployment back (at most 10); declared after the endpoint, by name."""
    target_concurrent_requests: float = 8
    """ConcurrentRequestsPerModel per instance that scaling aims for."""
    queue_name: pulumi.Input[str]
    target_backlog_per_instance: float = 8
    """Queued requests per instance that scaling aims for."""
    schedule: Schedule | None = None
    """Off-hours keep one instance: a real-time endpoint cannot scale to zero."""
    log_retention_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.min_instances <= self.max_instances:
            raise ValueError("a real-time endpoint needs 1 <= min_instances <= max_instances")
        for value, label in (
            (self.startup_timeout_seconds, "startup_timeout_seconds"),
            (self.download_timeout_seconds, "download_timeout_seconds"),
        ):
            if not 60 <= value <= 3600:
                raise ValueError(f"{label} must be 60 to 3600 s (SageMaker ProductionVariant)")
        if len(self.rollback_alarm_names) > 10:
            raise ValueError("a deployment rolls back on at most 10 alarms (SageMaker AutoRollbackConfig)")


CONTENT_HASH_LENGTH = 8


def _content_name(prefix: str, kind: str, *parts: pulumi.Input[object]) -> pulumi.Output[str]:
    """``<prefix><hash>`` of everything the resource holds: SageMaker cannot change a model or
    an endpoint configuration, so each change is a new one, under a new name (created before
    the old one is deleted), and the plan shows the chain a change sets off: new model, new
    configuration, endpoint updated. At most 63 characters: the endpoint's name, checked by
    the config, is longer (its instance-type part is at least as long as the hash)."""
    return pulumi.Output.all(*parts).apply(
        lambda values: (
            prefix
            + hashlib.sha256(json.dumps([kind, *values], sort_keys=True, default=str).encode()).hexdigest()[
                :CONTENT_HASH_LENGTH
            ]
        )
    )


class SageMakerEndpoint(pulumi.ComponentResource):
    endpoint: aws.sagemaker.Endpoint
    """Escape hatch: the endpoint."""
    endpoint_name: pulumi.Output[str]
    endpoint_arn: pulumi.Output[str]
    variant_name: pulumi.Output[str]
    config_name: pulumi.Output[str]
    """The endpoint configuration this version of the stack deploys (a rollback check reads it)."""
    role_arn: pulumi.Output[str]
    invoke_policy_json: pulumi.Output[str]
    """IAM policy: call this endpoint (both calls) and read its status."""

    def __init__(self, name: str, args: SageMakerEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:SageMakerEndpoint", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        role, policies = self._role()
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoint",
            vpc_id=args.vpc_id,
            description=f"SageMaker instances of {args.model}: nothing reaches them but SageMaker",
            egress=https_egress("model data from S3 through the VPC"),
            tags=dict(args.tags),
            opts=self._child,
        )
        # Kept when replaced: see the module's docstring.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        model_name = _content_name(
            args.name_prefix,
            "model",
            args.image,
            dict(args.environment),
            args.weights_s3_uri,
            role.arn,
            args.subnet_ids,
            sg.id,
        )
        model = aws.sagemaker.Model(
            f"{name}-model",
            name=model_name,
            execution_role_arn=role.arn,
            enable_network_isolation=True,
            primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                image=args.image,
                environment=dict(args.environment),
                model_data_source=aws.sagemaker.ModelPrimaryContainerModelDataSourceArgs(
                    s3_data_sources=[
                        aws.sagemaker.ModelPrimaryContainerModelDataSourceS3DataSourceArgs(
                            s3_uri=args.weights_s3_uri, s3_data_type="S3Prefix", compression_type="None"
                        )
                    ]
                ),
            ),
            vpc_config=aws.sagemaker.ModelVpcConfigArgs(subnets=args.subnet_ids, security_group_ids=[sg.id]),
            tags=dict(args.tags),
            # SageMaker checks the role's rights when it creates the model.
            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(depends_on=policies)),
        )
        # No KMS key: every GPU type the config accepts has local NVMe storage, which its
        # hardware encrypts, and SageMaker refuses a key for such types (docs/reference.md#sagemaker;
        # the policy rule sagemaker-encrypted-volumes refuses a type without it and without a key).
        config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            name=_content_name(
                args.name_prefix,
                "config",
                model.name,
                args.instance_type,
                args.min_instances,
                args.startup_timeout_seconds,
                args.download_timeout_seconds,
                args.inference_ami_version,
                ROUTING_STRATEGY,
            ),
            production_variants=[
                aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                    variant_name=VARIANT_NAME,
                    model_name=model.name,
                    instance_type=args.instance_type,
                    initial_instance_count=args.min_instances,
                    container_startup_health_check_timeout_in_seconds=args.startup_timeout_seconds,
                    model_data_download_timeout_in_seconds=args.download_timeout_seconds,
                    inference_ami_version=args.inference_ami_version,
                    routing_configs=[
                        aws.sagemaker.EndpointConfigurationProductionVariantRoutingConfigArgs(
                            routing_strategy=ROUTING_STRATEGY
                        )
                    ],
                )
            ],
            tags=dict(args.tags),
            opts=kept,
        )
        self.endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=args.endpoint_name,
            endpoint_config_name=config.name,
            deployment_config=self._deployment_config(),
            tags=dict(args.tags),
            opts=self._child,
        )
        self.endpoint_name = self.endpoint.name
        self.endpoint_arn = self.endpoint.arn
        self.variant_name = pulumi.Output.from_input(VARIANT_NAME)
        self.config_name = config.name
        self.role_arn = role.arn
        self.invoke_policy_json = _policy.document(
            _policy.allow(
                list(INVOKE_ACTIONS),
                [self.endpoint_arn],
                sid="InvokeEndpoint",
            )
        )
        self._scaling()
        self.register_outputs(
            {
                "endpoint_name": self.endpoint_name,
                "endpoint_arn": self.endpoint_arn,
                "config_name": self.config_name,
                "role_arn": self.role_arn,
            }
        )

    # ------------------------------------------------------------------ identity
    def _role(self) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """The execution role SageMaker assumes to pull the image, copy the weights, write
        the container's logs and metrics, and attach the instances to the VPC."""
        a, child = self._args, self._child
        role = aws.iam.Role(
            f"{self._name}-execution",
            assume_role_policy=_policy.assume_role_policy("sagemaker.amazonaws.com"),
            description=f"SageMaker endpoint serving {a.model}",
            tags=dict(a.tags),
            opts=child,
        )
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self)).partition
        # SageMaker writes the container's output to /aws/sagemaker/Endpoints/<endpoint>.
        log_group = pulumi.Output.all(partition, region, account).apply(
            lambda v: f"arn:{v[0]}:logs:{v[1]}:{v[2]}:log-group:/aws/sagemaker/Endpoints/{a.endpoint_name}"
        )
        documents: dict[str, pulumi.Input[str]] = {
            "weights": a.weights_read_policy_json,
            "runtime": _policy.document(
                _policy.allow(["logs:CreateLogGroup", "logs:DescribeLogStreams"], [log_group], sid="OwnLogGroup"),
                _policy.allow(
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    [log_group.apply(lambda g: f"{g}:log-stream:*")],
                    sid="WriteOwnLogs",
                ),
                # PutMetricData has no resource to scope it to: its namespace is the scope.
                _policy.allow(
                    ["cloudwatch:PutMetricData"],
                    ["*"],
                    sid="EndpointMetrics",
                    condition={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
                ),
                # SageMaker attaches the instances to the VPC through network interfaces in
                # the account's subnets and security groups; the Describe calls take no resource.
                _policy.allow(
                    [
                        "ec2:DescribeDhcpOptions",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeVpcs",
                    ],
                    ["*"],
                    sid="DescribeVpc",
                ),
                _policy.allow(
                    [
                        "ec2:CreateNetworkInterface",
                        "ec2:CreateNetworkInterfacePermission",
                        "ec2:DeleteNetworkInterface",
                        "ec2:DeleteNetworkInterfacePermission",
                    ],
                    [
                        pulumi.Output.format("arn:{0}:ec2:{1}:{2}:{3}/*", partition, region, account, kind)
                        for kind in ("network-interface", "subnet", "security-group")
                    ],
                    sid="VpcInterfaces",
                ),
            ),
        }
        pull = _ecr.pull_statements((a.image,), sid="PullImage")
        if pull:
            documents["image"] = _policy.document(*pull)
        policies: list[pulumi.Resource] = [*_policy.role_policies(self._name, role, documents, child)]
        return role, policies

    # ------------------------------------------------------------------ rollout
    def _deployment_config(self) -> aws.sagemaker.EndpointDeploymentConfigArgs:
        a, d = self._args, self._args.deployment
        rollback = aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
            alarms=[
                aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(alarm_name=n)
                for n in a.rollback_alarm_names
            ]
        )
        if d.strategy == "rolling":
            return aws.sagemaker.EndpointDeploymentConfigArgs(
                rolling_update_policy=aws.sagemaker.EndpointDeploymentConfigRollingUpdatePolicyArgs(
                    maximum_batch_size=aws.sagemaker.EndpointDeploymentConfigRollingUpdatePolicyMaximumBatchSizeArgs(
                        type="CAPACITY_PERCENT", value=d.step_percent
                    ),
                    wait_interval_in_seconds=d.wait_seconds,
                    maximum_execution_timeout_in_seconds=d.max_seconds,
                ),
                auto_rollback_configuration=rollback if a.rollback_alarm_names else None,
            )
        routing = aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationArgs(
            type={"allAtOnce": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}[d.strategy],
            wait_interval_in_seconds=d.wait_seconds,
            canary_size=(
                aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySizeArgs(
                    type="CAPACITY_PERCENT", value=d.step_percent
                )
                if d.strategy == "canary"
                else None
            ),
            linear_step_size=(
                aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSizeArgs(
                    type="CAPACITY_PERCENT", value=d.step_percent
                )
                if d.strategy == "linear"
                else None
            ),
        )
        return aws.sagemaker.EndpointDeploymentConfigArgs(
            blue_green_update_policy=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyArgs(
                traffic_routing_configuration=routing,
                termination_wait_in_seconds=d.bake_seconds,
                maximum_execution_timeout_in_seconds=d.max_seconds,
            ),
            auto_rollback_configuration=rollback if a.rollback_alarm_names else None,
        )

    # ------------------------------------------------------------------ scaling
    def _scaling(self) -> None:
        a, child = self._args, self._child
        target = aws.appautoscaling.Target(
            f"{self._name}-capacity",
            service_namespace="sagemaker",
            resource_id=self.endpoint.name.apply(lambda n: f"endpoint/{n}/variant/{VARIANT_NAME}"),
            scalable_dimension=SCALABLE_DIMENSION,
            min_capacity=a.min_instances,
            max_capacity=a.max_instances,
            opts=child,
        )
        resource_id, dimension, namespace = target.resource_id, target.scalable_dimension, target.service_namespace
        aws.appautoscaling.Policy(
            f"{self._name}-concurrency",
            policy_type="TargetTrackingScaling",
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="SageMakerVariantConcurrentRequestsPerModelHighResolution"
                ),
                target_value=a.target_concurrent_requests,
                scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
                scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
            ),
            resource_id=resource_id,
            scalable_dimension=dimension,
            service_namespace=namespace,
            opts=child,
        )
        aws.appautoscaling.Policy(
            f"{self._name}-backlog",
            policy_type="TargetTrackingScaling",
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                customized_metric_specification=self._backlog_metric(),
                target_value=a.target_backlog_per_instance,
                scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
                scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
            ),
            resource_id=resource_id,
            scalable_dimension=dimension,
            service_namespace=namespace,
            opts=child,
        )
        if a.schedule is not None:
            for label, cron, low, high in (
                # A real-time endpoint keeps at least one instance.
                ("off", a.schedule.off_cron, 1, 1),
                ("on", a.schedule.on_cron, a.min_instances, a.max_instances),
            ):
                aws.appautoscaling.ScheduledAction(
                    f"{self._name}-{label}",
                    name=f"{a.model}-{label}",
                    schedule=aws_cron(cron),
                    timezone=a.schedule.time_zone,
                    scalable_target_action=aws.appautoscaling.ScheduledActionScalableTargetActionArgs(
                        min_capacity=low, max_capacity=high
                    ),
                    resource_id=resource_id,
                    scalable_dimension=dimension,
                    service_namespace=namespace,
                    opts=child,
                )

    def _backlog_metric(
        self,
    ) -> aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs:
        """Queued requests per instance in service: the queue's visible messages over the
        instances the endpoint runs, as the queue worker reads them from SageMaker and
        publishes them (SageMaker publishes no instance count)."""
        spec = aws.appautoscaling
        queries = [
            _metrics.metric(
                "waiting",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": self._args.queue_name},
                "Maximum",
            ),
            _metrics.metric(
                "instances",
                metrics.NAMESPACE,
                metrics.ENDPOINT_INSTANCES,
                {metrics.DIMENSION_MODEL: self._args.model},
                "Minimum",
            ),
        ]
        return spec.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs(
            metrics=[
                *[_scaling_query(q) for q in queries],
                spec.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs(
                    id="backlog",
                    label="queued requests per instance",
                    return_data=True,
                    # Never divide by zero: an endpoint always has one instance.
                    expression="FILL(waiting, 0) / IF(FILL(instances, 1) > 0, FILL(instances, 1), 1)",
                ),
            ]
        )


def _scaling_query(
    q: dict[str, Any],
) -> aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs:
    """A metric query (``_metrics.metric``) as a target-tracking policy's metric, not returned."""
    spec = aws.appautoscaling
    return spec.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs(
        id=q["id"],
        return_data=False,
        metric_stat=spec.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatArgs(
            metric=spec.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs(
                namespace=q["namespace"],
                metric_name=q["metric_name"],
                dimensions=[
                    spec.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs(
                        name=k, value=v
                    )
                    for k, v in q["dimensions"].items()
                ],
            ),
            stat=q["stat"],
        ),
    )
