"""GPU fleet of one model on EC2: a launch template and two Auto Scaling groups.

Creates:
- an instance role and profile that can read only this model's queue, write only its
  results prefix, read the token secret, write its log groups, and complete lifecycle
  actions of its own groups; a security group that admits the engine port from the load
  balancer only;
- one launch template (the pinned GPU AMI, IMDSv2 required with hop limit 1,
  instance-metadata tags on, encrypted gp3 root volume sized for the image and the
  weights, no public IP, cloud-init user data from ``components.ec2.user_data``);
- an **on-demand base group** (``on_demand_base`` instances, with a warm pool of stopped
  instances: AWS allows warm pools only on groups without spot) and a **spot group** (mixed
  instance types, price-capacity-optimized, capacity rebalance). Both register with the
  model's target group, use ELB health checks with a grace period that covers model load,
  and carry a launch hook (the boot completes it once the engine is ready) and a
  termination hook (the worker drains, then completes it). The hooks' settings are
  constants: a change to them replaces the group;
- scaling: target tracking of the scaled group (spot when there is one) on the load above
  what the on-demand instances carry, per instance of the scaled group, a step policy that
  wakes it from zero, and an optional schedule;
- the spot fallback: when the spot group stays short of its desired capacity, the
  on-demand group grows by the shortfall (up to ``on_demand_fallback_max``), and shrinks
  back to its base when spot returns. Two alarms and two step policies, visible in a plan;
- zero-downtime upgrades: a change of the launch template (model revision, engine, image,
  AMI, instance types) rolls both groups by instance refresh, launching before
  terminating, with checkpoints and a real automatic rollback on the given alarms
  (``components.ec2.fleet_rollout``: the groups keep their version until the refresh succeeds).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import _ecr, _metrics, _policy
from components import worker_environment as _worker
from components.ec2 import user_data
from components.ec2.fleet_rollout import GroupRolloutArgs, InstanceRefresh, RolloutPreferences
from components.schedule import Schedule
from model_server import metrics
from model_server.engines import DEFAULT_MAX_CONCURRENT_REQUESTS, Engine
from model_server.worker.settings import WorkerSettings

ROOT_DEVICE = "/dev/xvda"
AMI_BASE_GIB = 60
"""What the AMI itself takes (CUDA, drivers, Docker), with room for logs."""
ROOT_VOLUME_THROUGHPUT_MIBPS = 500
ROOT_VOLUME_IOPS = 6000
"""gp3 above its 125 MiB/s baseline: image layers and weights land faster on boot."""

# Model-load estimate: boot, image pull, weight download, load and warm-up
# (docs/reference.md#gpus-and-prices has the figures and their sources).
BOOT_SECONDS = 90
IMAGE_PULL_SECONDS = 360
"""A 15 to 20 GB engine image takes 4 to 6 minutes to pull from a public registry."""
ECR_IMAGE_PULL_SECONDS = 180
"""The same image from ECR in the stack's region: no internet hop and no rate limit; the
bound is unpacking onto the root volume (500 MiB/s gp3), about half the public time."""
DOWNLOAD_SECONDS_PER_GB = 10.0
"""About 100 MB/s from the Hugging Face Hub."""
S3_SECONDS_PER_GB = 2.0
"""Staged weights from S3 with the AWS CLI's CRT client: it fills the instance's network
(up to 10 Gb/s on the smallest types), so the root volume's 500 MiB/s is the bound."""
LOAD_SECONDS_PER_GB = 1.0
WARMUP_SECONDS = 60

WORKER_DRAIN_SECONDS = int(WorkerSettings.model_fields["drain_seconds"].default)
"""The worker's own drain budget (model_server.worker.settings): under the spot notice."""
TERMINATION_HOOK_HEARTBEAT_SECONDS = int(WorkerSettings.model_fields["lifecycle_drain_seconds"].default)
"""Longest the worker may drain on scale-in before the instance goes anyway: the worker's
scale-in drain budget, which it keeps alive with lifecycle heartbeats."""
SHORTFALL_MINUTES = 5
"""Spot short this long before on-demand fills in: a few minutes rides out a slow launch."""
RECOVERY_MINUTES = 10
"""Spot back this long before on-demand shrinks: slower than growth, to avoid flapping."""
LAUNCH_HOOK_HEARTBEAT_SECONDS = 600
"""An instance whose boot stops sending heartbeats (a hang, a dead instance) is abandoned
after 10 minutes. The boot sends one a minute while it prepares, up to its own deadline
(twice the model-load time), so a slow model never needs a longer hook. A constant on
purpose: a group's initial lifecycle hooks cannot change without replacing the group."""


def estimate_load_seconds(
    weights_gb: float, image_size_gib: int, *, weights_from_s3: bool = False, image_from_ecr: bool = False
) -> int:
    """Seconds from launch to a ready engine, for the health-check grace period."""
    pull = (ECR_IMAGE_PULL_SECONDS if image_from_ecr else IMAGE_PULL_SECONDS) * max(1.0, image_size_gib / 30)
    download = S3_SECONDS_PER_GB if weights_from_s3 else DOWNLOAD_SECONDS_PER_GB
    return math.ceil(BOOT_SECONDS + pull + weights_gb * (download + LOAD_SECONDS_PER_GB) + WARMUP_SECONDS)


def root_volume_gib(weights_gb: float, image_size_gib: int) -> int:
    """AMI, engine image, the weights twice (download cache and any conversion), slack."""
    return AMI_BASE_GIB + image_size_gib + math.ceil(2 * weights_gb) + 20


@dataclass(frozen=True, kw_only=True)
class HubWeights:
    """Each instance downloads the weights from the Hugging Face Hub at boot, with the token."""

    token_secret_arn: pulumi.Input[str]
    token_policy_json: pulumi.Input[str]
    """IAM policy: read the token's secret."""


@dataclass(frozen=True, kw_only=True)
class S3Weights:
    """Each instance copies the weights staged in the stack's weights bucket: no token, no
    Hub, no internet."""

    bucket: pulumi.Input[str]
    prefix: str
    """``<modelId>/<revision>/`` (model_server.weights.layout)."""
    marker: str
    """The key under ``prefix`` written last by the stager: a prefix without it is refused."""
    read_policy_json: pulumi.Input[str]
    """IAM policy: read this prefix only."""


@dataclass(frozen=True, kw_only=True)
class GpuFleetArgs:
    model: str
    """The model's name in the stack: the worker's WORKER_MODEL and the metric dimension."""
    name_prefix: str
    """Prefix of the groups' physical names (``llm-<stack>-<model>-``): the instance role
    may complete lifecycle actions of groups with this prefix only."""
    engine: Engine
    engine_args: Sequence[str]
    download_args: Sequence[str]
    engine_image: str
    worker_image: str
    ami_id: str
    """The GPU AMI, pinned: moving to a newer one is a deliberate change that rolls the fleet
    (an AMI read from AWS's ``latest`` parameter would roll it on any deploy)."""
    instance_types: Sequence[str]
    """Most preferred first; the first is the on-demand type."""
    weights_gb: float
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    load_balancer_security_group_id: pulumi.Input[str]
    target_group_arn: pulumi.Input[str]
    queue_url: pulumi.Input[str]
    queue_name: pulumi.Input[str]
    consume_policy_json: pulumi.Input[str]
    results_bucket: pulumi.Input[str]
    results_policy_json: pulumi.Input[str]
    weights: HubWeights | S3Weights
    """Where the weights come from."""
    min_size: int = 0
    """Instances across both groups; 0 lets the model scale to zero."""
    max_size: int = 2
    on_demand_base: int = 0
    on_demand_fallback_max: int = 0
    """Extra on-demand instances while spot is short; 0 disables the fallback."""
    warm_pool_size: int = 0
    health_check_grace_seconds: int | None = None
    """None derives it from the weights and the image (``estimate_load_seconds``)."""
    target_backlog_per_instance: float = DEFAULT_MAX_CONCURRENT_REQUESTS
    """Queue backlog plus in-flight requests one instance should carry."""
    worker_max_in_flight: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    worker_drain_seconds: int = WORKER_DRAIN_SECONDS
    """Under the 2-minute spot notice, so interrupted work is released in time."""
    schedule: Schedule | None = None
    refresh_rollback_alarm_names: pulumi.Input[Sequence[str]] = ()
    """Alarms that stop and roll back an instance refresh (up to 10). They need not exist
    when the groups are first created: a refresh starts only once a group runs another
    configuration than its launch template's latest version."""
    log_retention_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.instance_types) < 1:
            raise ValueError("instance_types needs at least one type")
        if not 0 <= self.min_size <= self.max_size:
            raise ValueError("need 0 <= min_size <= max_size")
        if self.on_demand_base > self.max_size:
            raise ValueError("on_demand_base cannot exceed max_size")
        if self.warm_pool_size > self.on_demand_base + self.on_demand_fallback_max:
            raise ValueError("warm_pool_size cannot exceed what the on-demand group can grow to")

    @property
    def grace_seconds(self) -> int:
        if self.health_check_grace_seconds is not None:
            return self.health_check_grace_seconds
        return estimate_load_seconds(
            self.weights_gb,
            self.engine.image_size_gib,
            weights_from_s3=isinstance(self.weights, S3Weights),
            image_from_ecr=_ecr.is_ecr_image(self.engine_image),
        )

    @property
    def spot_max(self) -> int:
        return self.max_size - self.on_demand_base


class GpuFleet(pulumi.ComponentResource):
    launch_template: aws.ec2.LaunchTemplate
    on_demand_group: aws.autoscaling.Group
    spot_group: aws.autoscaling.Group | None
    """None when every instance is on-demand (max_size == on_demand_base)."""
    groups: list[aws.autoscaling.Group]
    """The on-demand group, then the spot group when there is one."""
    group_names: pulumi.Output[list[str]]
    """Both groups' names: the ``AutoScalingGroupName`` dimension of their metrics."""
    role_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    user_data: pulumi.Output[str]
    """The rendered cloud-config (for tests and validators; never holds a secret)."""

    def __init__(self, name: str, args: GpuFleetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:GpuFleet", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        log_groups = self._log_groups()
        profile, role, policies = self._instance_profile(region, log_groups)
        sg = aws.ec2.SecurityGroup(
            f"{name}-instances",
            vpc_id=args.vpc_id,
            description=f"GPU instances of {args.model}: engine port from the load balancer only",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=args.engine.port,
                    to_port=args.engine.port,
                    security_groups=[args.load_balancer_security_group_id],
                    description="engine traffic and health checks from the ALB",
                )
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="-1",
                    from_port=0,
                    to_port=0,
                    cidr_blocks=["0.0.0.0/0"],
                    description="AWS APIs, image registries and the Hugging Face Hub",
                )
            ],
            opts=self._child,
        )
        self.user_data = self._user_data(region, log_groups)
        self.launch_template = self._launch_template(profile, sg)
        self.on_demand_group = self._on_demand_group()
        self.spot_group = self._spot_group() if args.spot_max > 0 else None
        self.groups = [g for g in (self.on_demand_group, self.spot_group) if g is not None]
        policies.append(self._lifecycle_permission(role, self.groups))
        self._rollouts(region, policies)
        self._scaling(self.groups)
        if args.on_demand_fallback_max > 0 and self.spot_group is not None:
            self._spot_fallback(self.spot_group)
        if args.schedule is not None:
            self._schedule(self.groups, args.schedule)
        self.group_names = pulumi.Output.all(*[g.name for g in self.groups])
        self.role_arn = role.arn
        self.security_group_id = sg.id
        self.register_outputs({"group_names": self.group_names, "role_arn": self.role_arn})

    # ------------------------------------------------------------------ identity, logs

    def _log_groups(self) -> dict[str, aws.cloudwatch.LogGroup]:
        return {
            kind: aws.cloudwatch.LogGroup(
                f"{self._name}-{kind}",
                name_prefix=f"/llm-serving/{self._args.name_prefix}{kind}-",
                retention_in_days=self._args.log_retention_days,
                opts=self._child,
            )
            for kind in ("boot", "engine", "worker", "metrics")
        }

    def _instance_profile(
        self, region: pulumi.Output[str], log_groups: Mapping[str, aws.cloudwatch.LogGroup]
    ) -> tuple[aws.iam.InstanceProfile, aws.iam.Role, list[pulumi.Resource]]:
        """The instances' profile, their role, and the role's policies (a rollout waits for them)."""
        a, child = self._args, self._child
        role = aws.iam.Role(
            f"{self._name}-instance",
            assume_role_policy=_policy.assume_role_policy("ec2.amazonaws.com"),
            description=f"GPU instances serving {a.model}",
            opts=child,
        )
        group_arns = [g.arn for g in log_groups.values()]
        stream_arns = [g.arn.apply(lambda arn: f"{arn}:log-stream:*") for g in log_groups.values()]
        documents = {
            "queue": a.consume_policy_json,
            "results": a.results_policy_json,
            "runtime": _policy.document(
                _policy.allow(["logs:DescribeLogStreams"], group_arns, sid="FindOwnLogStreams"),
                _policy.allow(["logs:CreateLogStream", "logs:PutLogEvents"], stream_arns, sid="WriteOwnLogs"),
            ),
        }
        if isinstance(a.weights, HubWeights):
            documents["token"] = a.weights.token_policy_json
        else:
            documents["weights"] = a.weights.read_policy_json
        pull = _ecr.pull_statements((a.engine_image, a.worker_image), sid="PullImages")
        if pull:
            documents["images"] = _policy.document(*pull)
        policies: list[pulumi.Resource] = [*_policy.role_policies(self._name, role, documents, child)]
        # Session Manager instead of SSH: no key pairs, no open port 22.
        aws.iam.RolePolicyAttachment(
            f"{self._name}-ssm",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            opts=child,
        )
        profile = aws.iam.InstanceProfile(f"{self._name}-instance", role=role.name, opts=child)
        return profile, role, policies

    def _lifecycle_permission(self, role: aws.iam.Role, groups: Sequence[aws.autoscaling.Group]) -> aws.iam.RolePolicy:
        """Lifecycle actions of this fleet's own groups, by their exact ARNs: a name pattern
        such as ``llm-dev-chat-*`` would also match the groups of a model named ``chat-v2``.
        Declared after the groups; their instances first call it minutes later, once the
        engine is ready or the worker has drained."""
        return aws.iam.RolePolicy(
            f"{self._name}-lifecycle",
            role=role.id,
            policy=_policy.document(
                _policy.allow(
                    ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
                    [g.arn for g in groups],
                    sid="OwnLifecycleActions",
                )
            ),
            opts=self._child,
        )

    # ---------------------------------------------------------------- launch template

    def _user_data(
        self, region: pulumi.Output[str], log_groups: Mapping[str, aws.cloudwatch.LogGroup]
    ) -> pulumi.Output[str]:
        a = self._args

        weights = a.weights

        def render(values: list[str]) -> str:
            region_, queue_url, bucket, source, boot, engine, worker, metric_group = values
            spec = user_data.BootSpec(
                model=a.model,
                region=region_,
                engine_name=a.engine.name,
                engine_image=a.engine_image,
                engine_args=list(a.engine_args),
                engine_port=a.engine.port,
                readiness_path=a.engine.readiness_path,
                shm_size_gib=a.engine.shm_size_gib,
                graceful_stop_seconds=a.engine.graceful_stop_seconds,
                model_cache_dir=a.engine.model_cache_dir,
                token_env=a.engine.token_env,
                engine_entrypoint=a.engine.entrypoint,
                download_entrypoint=a.engine.download_entrypoint,
                download_args=list(a.download_args),
                worker_image=a.worker_image,
                worker_env=worker_environment(a, region_, queue_url, bucket, metric_group),
                worker_stop_seconds=a.worker_drain_seconds + 10,
                token_secret_arn=source if isinstance(weights, HubWeights) else None,
                weights_bucket=source if isinstance(weights, S3Weights) else None,
                weights_prefix=weights.prefix if isinstance(weights, S3Weights) else "",
                weights_marker=weights.marker if isinstance(weights, S3Weights) else "",
                launch_hook_name=LAUNCH_HOOK,
                ready_timeout_seconds=a.grace_seconds,
                boot_deadline_seconds=2 * a.grace_seconds,
                log_groups={"boot": boot, "engine": engine, "worker": worker},
            )
            return user_data.render(spec)

        return pulumi.Output.all(
            region,
            a.queue_url,
            a.results_bucket,
            weights.token_secret_arn if isinstance(weights, HubWeights) else weights.bucket,
            *[log_groups[k].name for k in ("boot", "engine", "worker", "metrics")],
        ).apply(render)

    def _launch_template(self, profile: aws.iam.InstanceProfile, sg: aws.ec2.SecurityGroup) -> aws.ec2.LaunchTemplate:
        a = self._args
        tags = {"Name": f"{a.name_prefix}gpu", "llm-serving:model": a.model, **a.tags}
        return aws.ec2.LaunchTemplate(
            f"{self._name}-lt",
            image_id=a.ami_id,
            instance_type=a.instance_types[0],
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                # The worker and the boot read their group's name from the instance's tags.
                instance_metadata_tags="enabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_type="gp3",
                        volume_size=root_volume_gib(a.weights_gb, a.engine.image_size_gib),
                        encrypted="true",
                        delete_on_termination="true",
                        throughput=ROOT_VOLUME_THROUGHPUT_MIBPS,
                        iops=ROOT_VOLUME_IOPS,
                    ),
                )
            ],
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    associate_public_ip_address="false", security_groups=[sg.id], delete_on_termination="true"
                )
            ],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            user_data=self.user_data.apply(lambda text: base64.b64encode(text.encode()).decode()),
            update_default_version=True,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume")
            ],
            tags=tags,
            opts=self._child,
        )

    # ------------------------------------------------------------------------ groups

    def _group_common(self) -> dict[str, Any]:
        a = self._args
        return dict(
            vpc_zone_identifiers=a.subnet_ids,
            target_group_arns=[a.target_group_arn],
            health_check_type="ELB",
            health_check_grace_period=a.grace_seconds,
            default_instance_warmup=a.grace_seconds,
            # The metrics scaling and the fallback read (GroupInServiceInstances, ...).
            enabled_metrics=list(_metrics.GROUP_METRICS),
            metrics_granularity="1Minute",
            # Replace unhealthy instances by launching first: capacity never dips.
            instance_maintenance_policy=aws.autoscaling.GroupInstanceMaintenancePolicyArgs(
                min_healthy_percentage=100, max_healthy_percentage=200
            ),
            # Constants only: the provider replaces a group whose initial hooks change
            # (docs/reference.md#ec2-auto-scaling), so nothing derived from config goes here.
            initial_lifecycle_hooks=[
                aws.autoscaling.GroupInitialLifecycleHookArgs(
                    name=LAUNCH_HOOK,
                    lifecycle_transition="autoscaling:EC2_INSTANCE_LAUNCHING",
                    # The boot completes it once the engine answers and heartbeats while it
                    # prepares; no answer: replace the instance.
                    default_result="ABANDON",
                    heartbeat_timeout=LAUNCH_HOOK_HEARTBEAT_SECONDS,
                ),
                aws.autoscaling.GroupInitialLifecycleHookArgs(
                    name=TERMINATION_HOOK,
                    lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
                    # The worker drains, then completes it; if it cannot, go on anyway.
                    default_result="CONTINUE",
                    heartbeat_timeout=TERMINATION_HOOK_HEARTBEAT_SECONDS,
                ),
            ],
            tags=[
                aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=True)
                for k, v in sorted({"llm-serving:model": a.model, **a.tags}.items())
            ],
            wait_for_capacity_timeout="0",
        )

    def _template_spec(self) -> aws.autoscaling.GroupLaunchTemplateArgs:
        return aws.autoscaling.GroupLaunchTemplateArgs(
            id=self.launch_template.id, version=self.launch_template.latest_version.apply(str)
        )

    def _on_demand_group(self) -> aws.autoscaling.Group:
        a = self._args
        od_max = a.on_demand_base + a.on_demand_fallback_max
        warm_pool = None
        if a.warm_pool_size > 0:
            warm_pool = aws.autoscaling.GroupWarmPoolArgs(
                # GPU types cannot hibernate: warm instances are stopped, paying only for volumes.
                pool_state="Stopped",
                min_size=a.warm_pool_size,
                max_group_prepared_capacity=a.on_demand_base + a.warm_pool_size,
                # Scale-in (the fallback shrinking) returns instances to the pool.
                instance_reuse_policy=aws.autoscaling.GroupWarmPoolInstanceReusePolicyArgs(reuse_on_scale_in=True),
            )
        # Without spot this group is the whole fleet and scales between min and max.
        only = a.spot_max == 0
        return aws.autoscaling.Group(
            f"{self._name}-on-demand",
            name_prefix=f"{a.name_prefix}od-",
            min_size=a.min_size if only else min(a.on_demand_base, a.max_size),
            max_size=a.max_size if only else od_max,
            launch_template=self._template_spec(),
            capacity_rebalance=False,
            warm_pool=warm_pool,
            **self._group_common(),  # type: ignore[arg-type]
            # A new version reaches the group through its rollout (components.ec2.fleet_rollout).
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(ignore_changes=["launchTemplate.version"])
            ),
        )

    def _spot_group(self) -> aws.autoscaling.Group:
        a = self._args
        return aws.autoscaling.Group(
            f"{self._name}-spot",
            name_prefix=f"{a.name_prefix}spot-",
            min_size=max(0, a.min_size - a.on_demand_base),
            max_size=a.spot_max,
            capacity_rebalance=True,
            mixed_instances_policy=aws.autoscaling.GroupMixedInstancesPolicyArgs(
                instances_distribution=aws.autoscaling.GroupMixedInstancesPolicyInstancesDistributionArgs(
                    on_demand_base_capacity=SPOT_DISTRIBUTION["OnDemandBaseCapacity"],
                    on_demand_percentage_above_base_capacity=SPOT_DISTRIBUTION["OnDemandPercentageAboveBaseCapacity"],
                    spot_allocation_strategy=SPOT_DISTRIBUTION["SpotAllocationStrategy"],
                ),
                launch_template=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                    launch_template_specification=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs(
                        launch_template_id=self.launch_template.id,
                        version=self.launch_template.latest_version.apply(str),
                    ),
                    overrides=[
                        aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(instance_type=t)
                        for t in a.instance_types
                    ],
                ),
            ),
            **self._group_common(),  # type: ignore[arg-type]
            # The version and the instance types reach the group through its rollout.
            opts=pulumi.ResourceOptions.merge(
                self._child,
                pulumi.ResourceOptions(
                    ignore_changes=[
                        "mixedInstancesPolicy.launchTemplate.launchTemplateSpecification.version",
                        "mixedInstancesPolicy.launchTemplate.overrides",
                    ]
                ),
            ),
        )

    def _rollouts(self, region: pulumi.Output[str], policies: Sequence[pulumi.Resource]) -> None:
        """One rollout per group: a new launch-template version (or instance-type list) is
        rolled out by an instance refresh that can really roll back."""
        a = self._args
        prefs = RolloutPreferences(
            instance_warmup_seconds=a.grace_seconds,
            checkpoint_delay_seconds=a.grace_seconds,
            alarm_names=a.refresh_rollback_alarm_names,
        )
        version = self.launch_template.latest_version.apply(str)
        for kind, group in (("on-demand", self.on_demand_group), ("spot", self.spot_group)):
            if group is None:
                continue
            mixed = group is self.spot_group
            InstanceRefresh(
                f"{self._name}-{kind}-rollout",
                GroupRolloutArgs(
                    region=region,
                    group_name=group.name,
                    launch_template_id=self.launch_template.id,
                    launch_template_version=version,
                    preferences=prefs,
                    instance_types=tuple(a.instance_types) if mixed else (),
                    instances_distribution=SPOT_DISTRIBUTION if mixed else {},
                ),
                # New instances start with the role's current permissions.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(policies)),
            )

    # ----------------------------------------------------------------------- scaling

    def _load_queries(self, groups: Sequence[aws.autoscaling.Group]) -> list[dict[str, Any]]:
        """Metric math for target tracking of the scaled group: the load (queue backlog plus
        requests in flight) above what the on-demand base carries, per in-service instance of
        the scaled group.

        Target tracking sets capacity to about capacity x metric / target, so AWS requires a
        metric proportional to the scaled group's capacity (docs/reference.md#ec2-auto-scaling).
        Load per instance of both groups is not: with an on-demand base of B, s spot instances
        and a load of L, spot would go to s x L / ((B + s) x T) instead of L / T - B. Counting
        the on-demand instances at the target T each and dividing the rest by s is exact.
        Without a spot group the one group is scaled on the whole load per instance."""
        a = self._args
        target = f"{a.target_backlog_per_instance:g}"
        queries: list[dict[str, Any]] = [
            _metrics.metric(
                "backlog", "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": a.queue_name}, "Sum"
            ),
            _metrics.metric(
                "inflight", metrics.NAMESPACE, metrics.IN_FLIGHT, {metrics.DIMENSION_MODEL: a.model}, "Average"
            ),
        ]
        for i, group in enumerate(groups):
            queries.append(_metrics.group_metric(f"g{i}", "GroupInServiceInstances", group.name))
        queries.append(
            {"id": "n", "expression": " + ".join(f"FILL(g{i}, 0)" for i in range(len(groups))), "label": "in service"}
        )
        # In flight is reported per instance: times n it is the fleet's total.
        total = "FILL(backlog, 0) + FILL(inflight, 0) * n"
        if len(groups) == 2:
            carried, scaled = f"{target} * FILL(g0, 0)", "FILL(g1, 0)"
            excess_label = "load above what the on-demand instances carry"
        else:
            carried, scaled = "0", "n"
            excess_label = "backlog + in flight"
        queries.append({"id": "excess", "expression": _metrics.positive(f"{total} - {carried}"), "label": excess_label})
        queries.append(
            {
                "id": "load",
                # No instance of the scaled group in service: target tracking has no capacity
                # to multiply; the wake-up policy takes it off zero.
                "expression": f"excess / IF({scaled} > 0, {scaled}, 1)",
                "label": "load per instance of the scaled group",
            }
        )
        return queries

    def _scaling(self, groups: Sequence[aws.autoscaling.Group]) -> None:
        a = self._args
        queries = self._load_queries(groups)
        # Spot carries the load above the on-demand base; without spot, the one group does.
        scaled = self.spot_group or self.on_demand_group
        aws.autoscaling.Policy(
            f"{self._name}-backlog",
            autoscaling_group_name=scaled.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=a.grace_seconds,
            target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                target_value=a.target_backlog_per_instance,
                # Target tracking scales out after 3 minutes above target and in after 15
                # below: fast out, slow in.
                customized_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationArgs(
                    metrics=[_target_tracking_query(q, q["id"] == "load") for q in queries]
                ),
            ),
            opts=self._child,
        )
        scaled_min = max(0, a.min_size - a.on_demand_base) if scaled is self.spot_group else a.min_size
        if scaled_min > 0:
            return  # the scaled group never reaches zero: target tracking has capacity to multiply
        # Target tracking multiplies the group's current capacity, so from zero it needs a
        # first instance: whenever there is load the on-demand base does not carry (anything
        # queued while nothing serves, or the base loaded past the target).
        wake = aws.autoscaling.Policy(
            f"{self._name}-wake",
            autoscaling_group_name=scaled.name,
            policy_type="StepScaling",
            adjustment_type="ChangeInCapacity",
            estimated_instance_warmup=a.grace_seconds,
            step_adjustments=[
                aws.autoscaling.PolicyStepAdjustmentArgs(scaling_adjustment=1, metric_interval_lower_bound="0")
            ],
            opts=self._child,
        )
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-wake",
            alarm_description=f"{a.model}: work is waiting and the scaled group has no instance",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            # No data means no queue metrics yet: nothing to wake up for.
            treat_missing_data="notBreaching",
            metric_queries=[_metrics.alarm_query(q) for q in queries if q["id"] != "load"]
            + [
                _metrics.alarm_query(
                    _metrics.group_metric("scaled", "GroupDesiredCapacity", scaled.name, stat="Maximum")
                ),
                _metrics.alarm_query(
                    {
                        "id": "wake",
                        "expression": "IF(FILL(scaled, 0) == 0 AND excess > 0, 1, 0)",
                        "label": "work waiting, scaled group at zero",
                        "return_data": True,
                    }
                ),
            ],
            alarm_actions=[wake.arn],
            opts=self._child,
        )

    def _spot_fallback(self, spot: aws.autoscaling.Group) -> None:
        a, od = self._args, self.on_demand_group
        queries: list[dict[str, Any]] = [
            *_metrics.spot_shortfall("shortfall", spot.name),
            _metrics.group_metric("od_desired", "GroupDesiredCapacity", od.name),
            {
                "id": "cover",
                "label": "on-demand above its base",
                "expression": _metrics.positive(f"FILL(od_desired, {a.on_demand_base}) - {a.on_demand_base}"),
            },
        ]
        steps = a.on_demand_fallback_max
        grow = aws.autoscaling.Policy(
            f"{self._name}-fallback-grow",
            autoscaling_group_name=od.name,
            policy_type="StepScaling",
            adjustment_type="ChangeInCapacity",
            estimated_instance_warmup=a.grace_seconds,
            step_adjustments=_steps(steps, sign=1),
            opts=self._child,
        )
        shrink = aws.autoscaling.Policy(
            f"{self._name}-fallback-shrink",
            autoscaling_group_name=od.name,
            policy_type="StepScaling",
            adjustment_type="ChangeInCapacity",
            step_adjustments=_steps(steps, sign=-1),
            opts=self._child,
        )
        for label, expression, minutes, policy, description in (
            (
                "spot-short",
                "shortfall - cover",
                SHORTFALL_MINUTES,
                grow,
                "spot cannot reach its desired capacity: on-demand fills the gap",
            ),
            (
                "spot-back",
                "cover - shortfall",
                RECOVERY_MINUTES,
                shrink,
                "spot capacity is back: on-demand shrinks to its base",
            ),
        ):
            aws.cloudwatch.MetricAlarm(
                f"{self._name}-{label}",
                alarm_description=f"{a.model}: {description}",
                comparison_operator="GreaterThanOrEqualToThreshold",
                threshold=1,
                evaluation_periods=minutes,
                datapoints_to_alarm=minutes,
                # Missing group metrics mean nothing is known to be short.
                treat_missing_data="notBreaching",
                metric_queries=[_metrics.alarm_query(q) for q in queries]
                + [
                    _metrics.alarm_query(
                        {"id": "uncovered", "expression": expression, "label": description, "return_data": True}
                    )
                ],
                alarm_actions=[policy.arn],
                opts=self._child,
            )

    def _schedule(self, groups: Sequence[aws.autoscaling.Group], schedule: Schedule) -> None:
        a = self._args
        for group in groups:
            is_od = group is self.on_demand_group
            kind = "on-demand" if is_od else "spot"
            on_min = (
                (a.min_size if a.spot_max == 0 else a.on_demand_base)
                if is_od
                else max(0, a.min_size - a.on_demand_base)
            )
            on_max = (
                (a.max_size if a.spot_max == 0 else a.on_demand_base + a.on_demand_fallback_max)
                if is_od
                else a.spot_max
            )
            aws.autoscaling.Schedule(
                f"{self._name}-{kind}-off",
                autoscaling_group_name=group.name,
                scheduled_action_name=f"{a.model}-{kind}-off",
                recurrence=schedule.off_cron,
                time_zone=schedule.time_zone,
                min_size=0,
                max_size=0,
                desired_capacity=0,
                opts=self._child,
            )
            aws.autoscaling.Schedule(
                f"{self._name}-{kind}-on",
                autoscaling_group_name=group.name,
                scheduled_action_name=f"{a.model}-{kind}-on",
                recurrence=schedule.on_cron,
                time_zone=schedule.time_zone,
                min_size=on_min,
                max_size=on_max,
                desired_capacity=on_min,
                opts=self._child,
            )


SPOT_DISTRIBUTION: Mapping[str, Any] = {
    # All spot, drawn from the pools with the best price and capacity (AWS's recommendation).
    "OnDemandBaseCapacity": 0,
    "OnDemandPercentageAboveBaseCapacity": 0,
    "SpotAllocationStrategy": "price-capacity-optimized",
}
"""The spot group's instances distribution (AWS API names), for the group and its rollouts."""
LAUNCH_HOOK = "llm-serving-launch"
TERMINATION_HOOK = "llm-serving-drain"


def worker_environment(
    a: GpuFleetArgs, region: str, queue_url: str, bucket: str, metrics_log_group: str
) -> dict[str, str]:
    """The worker container's environment on an instance (components.worker_environment):
    metrics through the CloudWatch agent, scale-in through the termination hook."""
    return _worker.worker_environment(
        model=a.model,
        engine=a.engine,
        region=region,
        queue_url=queue_url,
        results_bucket=bucket,
        max_in_flight=a.worker_max_in_flight,
        drain_seconds=a.worker_drain_seconds,
        lifecycle_hook_name=TERMINATION_HOOK,
        emf_endpoint=f"tcp://127.0.0.1:{user_data.EMF_PORT}",
        emf_log_group=metrics_log_group,
    )


def _target_tracking_query(
    q: Mapping[str, Any], returned: bool
) -> aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricArgs:
    if "expression" in q:
        return aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricArgs(
            id=str(q["id"]), expression=str(q["expression"]), label=str(q["label"]), return_data=returned
        )
    return aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricArgs(
        id=str(q["id"]),
        return_data=False,
        metric_stat=aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatArgs(
            stat=str(q["stat"]),
            period=_metrics.PERIOD_SECONDS,
            metric=aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs(
                namespace=str(q["namespace"]),
                metric_name=str(q["metric_name"]),
                dimensions=[
                    aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs(
                        name=k, value=v
                    )
                    for k, v in q["dimensions"].items()
                ],
            ),
        ),
    )  # type: ignore[attr-defined]


def _steps(count: int, sign: int) -> list[aws.autoscaling.PolicyStepAdjustmentArgs]:
    """Step k (metric k above the threshold of 1) adds or removes k + 1 instances."""
    steps = []
    for k in range(count):
        upper = None if k == count - 1 else str(k + 1)
        steps.append(
            aws.autoscaling.PolicyStepAdjustmentArgs(
                scaling_adjustment=sign * (k + 1), metric_interval_lower_bound=str(k), metric_interval_upper_bound=upper
            )
        )
    return steps
