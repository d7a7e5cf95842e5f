"""The plan's resources checked against AWS's CloudFormation resource schemas.

Pulumi's mocks accept any value; AWS refuses some, halfway through ``pulumi up``. The config
schema (``infra.config``) and the policy rules (``infra.aws_limits``) check the limits we
know of. This is the safety net for the ones nobody listed: AWS publishes a schema of every
CloudFormation resource type (pattern, enum, minimum/maximum, length of each property), and
cfn-lint ships them offline, with its own format checks (ids, ARNs, CIDRs). The resources
Pulumi's AWS provider creates take the same values through the same APIs, so each property
we set is mapped to its CloudFormation path (``TABLE``) and validated against that fragment
of the schema (``violations``).

Test-only: cfn-lint is a dev dependency, never imported by ``infra/`` or ``components/``.
"""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import regex
from cfnlint.jsonschema._format import cfn_format_checker
from cfnlint.rules.formats.FormatKeyword import FormatKeyword
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from infra.plan import COMPUTED, Plan, PlannedResource, render

REGION = "us-east-1"
"""cfn-lint keeps a schema per region: the committed stacks' region."""

AUTONAME_SUFFIX = "-0a1b2c3"
"""What Pulumi's autonaming appends to a resource's logical name when the program sets no
physical name: ``-`` and 7 random hex characters (the mocks do the same, as a placeholder)."""
UNIQUE_ID_SUFFIX = "202601011200000000" + "0000001a"
"""What the AWS provider appends to a ``namePrefix``: a timestamp to 1/10000 s and an 8-hex
counter, 26 characters (terraform-plugin-sdk ``id.PrefixedUniqueId``)."""

Convert = Callable[[Any], Any]


# ------------------------------------------------------------------------- conversions
# The Pulumi wire form of a value, as the CloudFormation property takes it.


def as_string(value: Any) -> Any:
    """A number CloudFormation takes as a string (``MaxSize: "4"``)."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def as_number(value: Any) -> Any:
    """A number the provider's schema types as a string (``metricIntervalLowerBound: "0"``)."""
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


def as_boolean(value: Any) -> Any:
    """A boolean the provider's schema types as a string (launch template ``"true"``)."""
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


def as_attribute(value: Any) -> Any:
    """A load balancer or target group attribute: its value is always a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return as_string(value)


def with_unique_suffix(prefix: Any) -> Any:
    """The name AWS gets from a ``namePrefix``."""
    return f"{prefix}{UNIQUE_ID_SUFFIX}" if isinstance(prefix, str) else prefix


def scheme(internal: Any) -> Any:
    return {True: "internal", False: "internet-facing"}.get(internal, internal)


def json_object(text: Any) -> Any:
    """A JSON document the provider takes as text and CloudFormation as an object."""
    try:
        return json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        return text


def entries(key: str, value: str) -> Convert:
    """A map (Pulumi's ``tags``, ``dimensions``) as CloudFormation's list of pairs."""

    def convert(mapping: Any) -> Any:
        return [{key: k, value: v} for k, v in mapping.items()] if isinstance(mapping, Mapping) else mapping

    return convert


def as_integer(value: Any) -> Any:
    """A number the provider's schema types as a string (a scheduled action's ``"1"``)."""
    try:
        return int(value) if isinstance(value, str) else value
    except ValueError:
        return value


def enabled(flag: Any) -> Any:
    """A boolean CloudFormation takes as ``ENABLED``/``DISABLED`` (ECS ``AssignPublicIp``)."""
    return {True: "ENABLED", False: "DISABLED"}.get(flag, flag) if isinstance(flag, bool) else flag


_VERBATIM_MAPS = frozenset({"options", "dockerLabels", "driverOpts", "labels", "systemControls"})


def _pascal(node: Any) -> Any:
    if isinstance(node, list):
        return [_pascal(item) for item in node]
    if isinstance(node, Mapping):
        return {f"{k[0].upper()}{k[1:]}": (v if k in _VERBATIM_MAPS else _pascal(v)) for k, v in node.items()}
    return node


def container_definitions(text: Any) -> Any:
    """ECS container definitions: JSON text (camelCase, as RegisterTaskDefinition takes them) for
    the provider, a list of objects with PascalCase keys for CloudFormation. Free-form maps
    (log driver options, labels) keep their keys."""
    value = json_object(text)
    return _pascal(value) if isinstance(value, list) else value


tag_list = entries("Key", "Value")
dimension_list = entries("Name", "Value")


# ------------------------------------------------------------------------------ table


@dataclass(frozen=True)
class Prop:
    """One wire property (``ingress[].fromPort``: ``[]`` is each item of a list) and the
    CloudFormation property path that takes its value (``SecurityGroupIngress[].FromPort``)."""

    wire: str
    cfn: str
    convert: Convert | None = None
    cfn_type: str | None = None
    """Another CloudFormation type than the resource's: what Pulumi sets inline, CloudFormation
    declares as its own resource (a route table's routes are ``AWS::EC2::Route``)."""
    autoname: bool = False
    """When the program sets neither this property nor a prefix (``namePrefix``,
    ``bucketPrefix``), Pulumi names the resource ``<logical name>-<7 hex>``: that name is checked."""


@dataclass(frozen=True)
class CfnResource:
    cfn_type: str | None
    """None: CloudFormation has no such resource (``reason`` says why)."""
    props: tuple[Prop, ...] = ()
    left_out: Mapping[str, str] = field(default_factory=dict)
    """Top-level wire inputs deliberately not checked, each with the reason."""
    reason: str = ""


PULUMI_ONLY = "Pulumi/Terraform-only: how the provider behaves, never sent to AWS"


def _props(**pairs: str) -> tuple[Prop, ...]:
    """Plain pairs: ``healthCheck__interval="HealthCheckIntervalSeconds"`` (``__`` for ``.``)."""
    return tuple(Prop(w.replace("__", "."), c) for w, c in pairs.items())


def _p(wire: str, cfn: str, convert: Convert | None = None, cfn_type: str | None = None) -> Prop:
    return Prop(wire, cfn, convert, cfn_type)


def _name(wire: str, cfn: str, *, prefix: bool = True) -> tuple[Prop, ...]:
    """A physical name: set, autonamed by Pulumi, or a prefix the provider completes."""
    props = (Prop(wire, cfn, autoname=True),)
    return (*props, Prop("namePrefix", cfn, with_unique_suffix)) if prefix else props


_TARGET_TRACKING = "targetTrackingConfiguration.customizedMetricSpecification.metrics[]"
_CFN_TARGET_TRACKING = "TargetTrackingConfiguration.CustomizedMetricSpecification.Metrics[]"
_HOOK = "AWS::AutoScaling::LifecycleHook"
_WARM_POOL = "AWS::AutoScaling::WarmPool"
_ROUTE = "AWS::EC2::Route"
_TEMPLATE_DATA = "LaunchTemplateData"
_EBS = "blockDeviceMappings[].ebs"
_CFN_EBS = f"{_TEMPLATE_DATA}.BlockDeviceMappings[].Ebs"
_NIC = "networkInterfaces[]"
_CFN_NIC = f"{_TEMPLATE_DATA}.NetworkInterfaces[]"
_CFN_SSE = "BucketEncryption.ServerSideEncryptionConfiguration[]"

# What the table maps: every property that carries a value derived from stack config (names,
# descriptions, numbers, CIDRs, crons, zones, ARNs) and every numeric setting, for each type.
# What it leaves out, and why:
# - Values AWS assigns at deploy time (ids, ARNs, URLs: ``<computed>`` in the plan): unknown
#   offline. Autonamed physical names are checked, as Pulumi will form them.
# - Inputs only the provider reads (``left_out`` of each type, e.g. ``forceDestroy``,
#   ``waitForCapacityTimeout``): AWS never sees them; the test of the plans fails on any input
#   neither mapped nor left out.
# - What the schemas check by type alone: policy documents (length and characters are checked;
#   their grammar is tests/infra/test_iam_lint.py), the dashboard body and user data (their
#   limits are infra/aws_limits.py), load balancer and target group attributes (strings).
# - Limits the schemas lack: a negative healthCheckGracePeriod, a lifecycle heartbeat over
#   7200 s, a target group name over 32 characters pass them (guarded by the config's ranges,
#   infra/aws_limits.py and the 16-character model names).
# - The dynamic InstanceRefresh resource: no CloudFormation type (infra/aws_limits.py checks
#   its preferences); llm-serving:* components declare no AWS resource of their own.
# - Kubernetes objects (``kubernetes:*``) and the Kubernetes provider of an EKS cluster: the
#   cluster's API server takes them, not AWS's; tests/k8s_schemas.py checks them against
#   Kubernetes' own schemas.
TABLE: dict[str, CfnResource] = {
    "aws:appautoscaling/policy:Policy": CfnResource(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        (
            *_name("name", "PolicyName", prefix=False),
            *_props(
                policyType="PolicyType",
                resourceId="ResourceId",
                scalableDimension="ScalableDimension",
                serviceNamespace="ServiceNamespace",
            ),
            *(
                _p(f"targetTrackingScalingPolicyConfiguration.{w}", f"TargetTrackingScalingPolicyConfiguration.{c}")
                for w, c in (
                    ("targetValue", "TargetValue"),
                    ("disableScaleIn", "DisableScaleIn"),
                    ("scaleInCooldown", "ScaleInCooldown"),
                    ("scaleOutCooldown", "ScaleOutCooldown"),
                    (
                        "predefinedMetricSpecification.predefinedMetricType",
                        "PredefinedMetricSpecification.PredefinedMetricType",
                    ),
                    ("predefinedMetricSpecification.resourceLabel", "PredefinedMetricSpecification.ResourceLabel"),
                    ("customizedMetricSpecification.metricName", "CustomizedMetricSpecification.MetricName"),
                    ("customizedMetricSpecification.namespace", "CustomizedMetricSpecification.Namespace"),
                    ("customizedMetricSpecification.statistic", "CustomizedMetricSpecification.Statistic"),
                    ("customizedMetricSpecification.unit", "CustomizedMetricSpecification.Unit"),
                    (
                        "customizedMetricSpecification.dimensions[].name",
                        "CustomizedMetricSpecification.Dimensions[].Name",
                    ),
                    (
                        "customizedMetricSpecification.dimensions[].value",
                        "CustomizedMetricSpecification.Dimensions[].Value",
                    ),
                    *(
                        (f"customizedMetricSpecification.metrics[].{w}", f"CustomizedMetricSpecification.Metrics[].{c}")
                        for w, c in (
                            ("id", "Id"),
                            ("expression", "Expression"),
                            ("label", "Label"),
                            ("returnData", "ReturnData"),
                            ("metricStat.stat", "MetricStat.Stat"),
                            ("metricStat.unit", "MetricStat.Unit"),
                            ("metricStat.metric.metricName", "MetricStat.Metric.MetricName"),
                            ("metricStat.metric.namespace", "MetricStat.Metric.Namespace"),
                            ("metricStat.metric.dimensions[].name", "MetricStat.Metric.Dimensions[].Name"),
                            ("metricStat.metric.dimensions[].value", "MetricStat.Metric.Dimensions[].Value"),
                        )
                    ),
                )
            ),
        ),
    ),
    "aws:appautoscaling/scheduledAction:ScheduledAction": CfnResource(
        # A scheduled action is an item of its scalable target's ScheduledActions in CloudFormation.
        "AWS::ApplicationAutoScaling::ScalableTarget",
        (
            *_props(
                resourceId="ResourceId",
                scalableDimension="ScalableDimension",
                serviceNamespace="ServiceNamespace",
                name="ScheduledActions[].ScheduledActionName",
                schedule="ScheduledActions[].Schedule",
                timezone="ScheduledActions[].Timezone",
                startTime="ScheduledActions[].StartTime",
                endTime="ScheduledActions[].EndTime",
            ),
            _p(
                "scalableTargetAction.minCapacity",
                "ScheduledActions[].ScalableTargetAction.MinCapacity",
                as_integer,
            ),
            _p(
                "scalableTargetAction.maxCapacity",
                "ScheduledActions[].ScalableTargetAction.MaxCapacity",
                as_integer,
            ),
        ),
    ),
    "aws:appautoscaling/target:Target": CfnResource(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        (
            *_props(
                maxCapacity="MaxCapacity",
                minCapacity="MinCapacity",
                resourceId="ResourceId",
                roleArn="RoleARN",
                scalableDimension="ScalableDimension",
                serviceNamespace="ServiceNamespace",
            ),
        ),
    ),
    "aws:autoscaling/group:Group": CfnResource(
        "AWS::AutoScaling::AutoScalingGroup",
        (
            *_name("name", "AutoScalingGroupName"),
            _p("minSize", "MinSize", as_string),
            _p("maxSize", "MaxSize", as_string),
            _p("desiredCapacity", "DesiredCapacity", as_string),
            *_props(
                capacityRebalance="CapacityRebalance",
                defaultInstanceWarmup="DefaultInstanceWarmup",
                healthCheckGracePeriod="HealthCheckGracePeriod",
                healthCheckType="HealthCheckType",
                maxInstanceLifetime="MaxInstanceLifetime",
                protectFromScaleIn="NewInstancesProtectedFromScaleIn",
                instanceMaintenancePolicy__maxHealthyPercentage="InstanceMaintenancePolicy.MaxHealthyPercentage",
                instanceMaintenancePolicy__minHealthyPercentage="InstanceMaintenancePolicy.MinHealthyPercentage",
                launchTemplate__id="LaunchTemplate.LaunchTemplateId",
                launchTemplate__version="LaunchTemplate.Version",
                metricsGranularity="MetricsCollection[].Granularity",
            ),
            _p("targetGroupArns[]", "TargetGroupARNs[]"),
            _p("vpcZoneIdentifiers[]", "VPCZoneIdentifier[]"),
            _p("enabledMetrics[]", "MetricsCollection[].Metrics[]"),
            _p("terminationPolicies[]", "TerminationPolicies[]"),
            _p("initialLifecycleHooks[].name", "LifecycleHookSpecificationList[].LifecycleHookName"),
            _p("initialLifecycleHooks[].defaultResult", "LifecycleHookSpecificationList[].DefaultResult"),
            _p("initialLifecycleHooks[].heartbeatTimeout", "LifecycleHookSpecificationList[].HeartbeatTimeout"),
            _p("initialLifecycleHooks[].lifecycleTransition", "LifecycleHookSpecificationList[].LifecycleTransition"),
            _p("initialLifecycleHooks[].notificationMetadata", "LifecycleHookSpecificationList[].NotificationMetadata"),
            _p(
                "initialLifecycleHooks[].notificationTargetArn",
                "LifecycleHookSpecificationList[].NotificationTargetARN",
            ),
            _p("initialLifecycleHooks[].roleArn", "LifecycleHookSpecificationList[].RoleARN"),
            # The same hook as AWS::AutoScaling::LifecycleHook declares it: the same API object
            # (LifecycleHookSpecification), whose schema also has the enums and 1023 characters of metadata.
            _p("initialLifecycleHooks[].name", "LifecycleHookName", cfn_type=_HOOK),
            _p("initialLifecycleHooks[].defaultResult", "DefaultResult", cfn_type=_HOOK),
            _p("initialLifecycleHooks[].heartbeatTimeout", "HeartbeatTimeout", cfn_type=_HOOK),
            _p("initialLifecycleHooks[].lifecycleTransition", "LifecycleTransition", cfn_type=_HOOK),
            _p("initialLifecycleHooks[].notificationMetadata", "NotificationMetadata", cfn_type=_HOOK),
            *(
                _p(f"mixedInstancesPolicy.instancesDistribution.{w}", f"MixedInstancesPolicy.InstancesDistribution.{c}")
                for w, c in (
                    ("onDemandAllocationStrategy", "OnDemandAllocationStrategy"),
                    ("onDemandBaseCapacity", "OnDemandBaseCapacity"),
                    ("onDemandPercentageAboveBaseCapacity", "OnDemandPercentageAboveBaseCapacity"),
                    ("spotAllocationStrategy", "SpotAllocationStrategy"),
                    ("spotInstancePools", "SpotInstancePools"),
                    ("spotMaxPrice", "SpotMaxPrice"),
                )
            ),
            _p(
                "mixedInstancesPolicy.launchTemplate.launchTemplateSpecification.launchTemplateId",
                "MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.LaunchTemplateId",
            ),
            _p(
                "mixedInstancesPolicy.launchTemplate.launchTemplateSpecification.version",
                "MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.Version",
            ),
            _p(
                "mixedInstancesPolicy.launchTemplate.overrides[].instanceType",
                "MixedInstancesPolicy.LaunchTemplate.Overrides[].InstanceType",
            ),
            _p(
                "mixedInstancesPolicy.launchTemplate.overrides[].weightedCapacity",
                "MixedInstancesPolicy.LaunchTemplate.Overrides[].WeightedCapacity",
                as_string,
            ),
            _p("tags[].key", "Tags[].Key"),
            _p("tags[].value", "Tags[].Value"),
            _p("tags[].propagateAtLaunch", "Tags[].PropagateAtLaunch"),
            # Pulumi's warmPool is CloudFormation's AWS::AutoScaling::WarmPool.
            _p("warmPool.minSize", "MinSize", cfn_type=_WARM_POOL),
            _p("warmPool.maxGroupPreparedCapacity", "MaxGroupPreparedCapacity", cfn_type=_WARM_POOL),
            _p("warmPool.poolState", "PoolState", cfn_type=_WARM_POOL),
            _p(
                "warmPool.instanceReusePolicy.reuseOnScaleIn", "InstanceReusePolicy.ReuseOnScaleIn", cfn_type=_WARM_POOL
            ),
        ),
        {"waitForCapacityTimeout": PULUMI_ONLY + " (how long `pulumi up` waits for capacity)"},
    ),
    "aws:autoscaling/policy:Policy": CfnResource(
        "AWS::AutoScaling::ScalingPolicy",
        (
            *_name("name", "PolicyName", prefix=False),
            *_props(
                adjustmentType="AdjustmentType",
                autoscalingGroupName="AutoScalingGroupName",
                cooldown="Cooldown",
                estimatedInstanceWarmup="EstimatedInstanceWarmup",
                metricAggregationType="MetricAggregationType",
                minAdjustmentMagnitude="MinAdjustmentMagnitude",
                policyType="PolicyType",
                scalingAdjustment="ScalingAdjustment",
                targetTrackingConfiguration__targetValue="TargetTrackingConfiguration.TargetValue",
                targetTrackingConfiguration__disableScaleIn="TargetTrackingConfiguration.DisableScaleIn",
            ),
            _p("stepAdjustments[].metricIntervalLowerBound", "StepAdjustments[].MetricIntervalLowerBound", as_number),
            _p("stepAdjustments[].metricIntervalUpperBound", "StepAdjustments[].MetricIntervalUpperBound", as_number),
            _p("stepAdjustments[].scalingAdjustment", "StepAdjustments[].ScalingAdjustment"),
            *(
                _p(f"{_TARGET_TRACKING}.{w}", f"{_CFN_TARGET_TRACKING}.{c}")
                for w, c in (
                    ("id", "Id"),
                    ("expression", "Expression"),
                    ("label", "Label"),
                    ("returnData", "ReturnData"),
                    ("period", "Period"),
                    ("metricStat.period", "MetricStat.Period"),
                    ("metricStat.stat", "MetricStat.Stat"),
                    ("metricStat.unit", "MetricStat.Unit"),
                    ("metricStat.metric.metricName", "MetricStat.Metric.MetricName"),
                    ("metricStat.metric.namespace", "MetricStat.Metric.Namespace"),
                    ("metricStat.metric.dimensions[].name", "MetricStat.Metric.Dimensions[].Name"),
                    ("metricStat.metric.dimensions[].value", "MetricStat.Metric.Dimensions[].Value"),
                )
            ),
        ),
    ),
    "aws:autoscaling/schedule:Schedule": CfnResource(
        "AWS::AutoScaling::ScheduledAction",
        _props(
            scheduledActionName="ScheduledActionName",
            autoscalingGroupName="AutoScalingGroupName",
            desiredCapacity="DesiredCapacity",
            minSize="MinSize",
            maxSize="MaxSize",
            recurrence="Recurrence",
            timeZone="TimeZone",
            startTime="StartTime",
            endTime="EndTime",
        ),
    ),
    "aws:cloudwatch/dashboard:Dashboard": CfnResource(
        "AWS::CloudWatch::Dashboard",
        _props(dashboardName="DashboardName", dashboardBody="DashboardBody"),
    ),
    "aws:cloudwatch/eventRule:EventRule": CfnResource(
        "AWS::Events::Rule",
        (
            *_name("name", "Name"),
            *_props(
                description="Description",
                eventPattern="EventPattern",
                scheduleExpression="ScheduleExpression",
                eventBusName="EventBusName",
                roleArn="RoleArn",
                state="State",
            ),
        ),
    ),
    "aws:cloudwatch/eventTarget:EventTarget": CfnResource(
        # A target is an item of its rule's Targets in CloudFormation.
        "AWS::Events::Rule",
        _props(
            rule="Name",
            arn="Targets[].Arn",
            targetId="Targets[].Id",
            input="Targets[].Input",
            inputPath="Targets[].InputPath",
            roleArn="Targets[].RoleArn",
        ),
    ),
    "aws:cloudwatch/logGroup:LogGroup": CfnResource(
        "AWS::Logs::LogGroup",
        (
            *_name("name", "LogGroupName"),
            *_props(retentionInDays="RetentionInDays", kmsKeyId="KmsKeyId", logGroupClass="LogGroupClass"),
            _p("tags", "Tags", tag_list),
        ),
        {"skipDestroy": PULUMI_ONLY},
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": CfnResource(
        "AWS::CloudWatch::Alarm",
        (
            *_name("name", "AlarmName", prefix=False),
            *_props(
                alarmDescription="AlarmDescription",
                actionsEnabled="ActionsEnabled",
                comparisonOperator="ComparisonOperator",
                datapointsToAlarm="DatapointsToAlarm",
                evaluationPeriods="EvaluationPeriods",
                evaluateLowSampleCountPercentiles="EvaluateLowSampleCountPercentile",
                extendedStatistic="ExtendedStatistic",
                metricName="MetricName",
                namespace="Namespace",
                period="Period",
                statistic="Statistic",
                threshold="Threshold",
                thresholdMetricId="ThresholdMetricId",
                treatMissingData="TreatMissingData",
                unit="Unit",
            ),
            _p("alarmActions[]", "AlarmActions[]"),
            _p("okActions[]", "OKActions[]"),
            _p("insufficientDataActions[]", "InsufficientDataActions[]"),
            _p("alarmActions", "AlarmActions"),
            _p("okActions", "OKActions"),
            _p("dimensions", "Dimensions", dimension_list),
            *(
                _p(f"metricQueries[].{w}", f"Metrics[].{c}")
                for w, c in (
                    ("id", "Id"),
                    ("accountId", "AccountId"),
                    ("expression", "Expression"),
                    ("label", "Label"),
                    ("period", "Period"),
                    ("returnData", "ReturnData"),
                    ("metric.metricName", "MetricStat.Metric.MetricName"),
                    ("metric.namespace", "MetricStat.Metric.Namespace"),
                    ("metric.period", "MetricStat.Period"),
                    ("metric.stat", "MetricStat.Stat"),
                    ("metric.unit", "MetricStat.Unit"),
                )
            ),
            _p("metricQueries[].metric.dimensions", "Metrics[].MetricStat.Metric.Dimensions", dimension_list),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:codebuild/project:Project": CfnResource(
        "AWS::CodeBuild::Project",
        (
            *_name("name", "Name", prefix=False),
            *_props(
                description="Description",
                serviceRole="ServiceRole",
                buildTimeout="TimeoutInMinutes",
                queuedTimeout="QueuedTimeoutInMinutes",
                artifacts__type="Artifacts.Type",
                source__type="Source.Type",
                source__buildspec="Source.BuildSpec",
                environment__type="Environment.Type",
                environment__computeType="Environment.ComputeType",
                environment__image="Environment.Image",
                environment__imagePullCredentialsType="Environment.ImagePullCredentialsType",
                logsConfig__cloudwatchLogs__status="LogsConfig.CloudWatchLogs.Status",
                logsConfig__cloudwatchLogs__groupName="LogsConfig.CloudWatchLogs.GroupName",
                logsConfig__s3Logs__status="LogsConfig.S3Logs.Status",
            ),
            *(
                _p(f"environment.environmentVariables[].{w}", f"Environment.EnvironmentVariables[].{c}")
                for w, c in (("name", "Name"), ("value", "Value"), ("type", "Type"))
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": CfnResource(
        None,
        reason=(
            "adopts the VPC's default security group (to strip its rules); CloudFormation cannot manage "
            "that group, and the only input is the VPC, known at deploy time"
        ),
        left_out={"vpcId": "computed", "ingress": "empty", "egress": "empty", "tags": "none set"},
    ),
    "aws:ec2/eip:Eip": CfnResource("AWS::EC2::EIP", (*_props(domain="Domain"), _p("tags", "Tags", tag_list))),
    "aws:ec2/flowLog:FlowLog": CfnResource(
        "AWS::EC2::FlowLog",
        (
            *_props(
                iamRoleArn="DeliverLogsPermissionArn",
                logDestination="LogDestination",
                logDestinationType="LogDestinationType",
                logFormat="LogFormat",
                maxAggregationInterval="MaxAggregationInterval",
                trafficType="TrafficType",
                vpcId="ResourceId",
                subnetId="ResourceId",
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:ec2/internetGateway:InternetGateway": CfnResource(
        "AWS::EC2::InternetGateway",
        (_p("vpcId", "VpcId", cfn_type="AWS::EC2::VPCGatewayAttachment"), _p("tags", "Tags", tag_list)),
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": CfnResource(
        "AWS::EC2::LaunchTemplate",
        (
            *_name("name", "LaunchTemplateName"),
            _p("description", "VersionDescription"),
            _p("tags", "TagSpecifications[].Tags", tag_list),
            *(
                _p(f"{w}", f"{_TEMPLATE_DATA}.{c}")
                for w, c in (
                    ("imageId", "ImageId"),
                    ("instanceType", "InstanceType"),
                    ("userData", "UserData"),
                    ("ebsOptimized", "EbsOptimized"),
                    ("instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior"),
                    ("keyName", "KeyName"),
                    ("iamInstanceProfile.arn", "IamInstanceProfile.Arn"),
                    ("iamInstanceProfile.name", "IamInstanceProfile.Name"),
                    ("metadataOptions.httpEndpoint", "MetadataOptions.HttpEndpoint"),
                    ("metadataOptions.httpPutResponseHopLimit", "MetadataOptions.HttpPutResponseHopLimit"),
                    ("metadataOptions.httpTokens", "MetadataOptions.HttpTokens"),
                    ("metadataOptions.instanceMetadataTags", "MetadataOptions.InstanceMetadataTags"),
                    ("monitoring.enabled", "Monitoring.Enabled"),
                    ("vpcSecurityGroupIds[]", "SecurityGroupIds[]"),
                    ("blockDeviceMappings[].deviceName", "BlockDeviceMappings[].DeviceName"),
                    ("tagSpecifications[].resourceType", "TagSpecifications[].ResourceType"),
                )
            ),
            _p("tagSpecifications[].tags", f"{_TEMPLATE_DATA}.TagSpecifications[].Tags", tag_list),
            _p(f"{_EBS}.deleteOnTermination", f"{_CFN_EBS}.DeleteOnTermination", as_boolean),
            _p(f"{_EBS}.encrypted", f"{_CFN_EBS}.Encrypted", as_boolean),
            *(
                _p(f"{_EBS}.{w}", f"{_CFN_EBS}.{c}")
                for w, c in (
                    ("iops", "Iops"),
                    ("throughput", "Throughput"),
                    ("volumeSize", "VolumeSize"),
                    ("volumeType", "VolumeType"),
                    ("kmsKeyId", "KmsKeyId"),
                    ("snapshotId", "SnapshotId"),
                )
            ),
            _p(f"{_NIC}.associatePublicIpAddress", f"{_CFN_NIC}.AssociatePublicIpAddress", as_boolean),
            _p(f"{_NIC}.deleteOnTermination", f"{_CFN_NIC}.DeleteOnTermination", as_boolean),
            _p(f"{_NIC}.securityGroups[]", f"{_CFN_NIC}.Groups[]"),
            _p(f"{_NIC}.subnetId", f"{_CFN_NIC}.SubnetId"),
            _p(f"{_NIC}.deviceIndex", f"{_CFN_NIC}.DeviceIndex"),
            _p(f"{_NIC}.description", f"{_CFN_NIC}.Description"),
        ),
        {"updateDefaultVersion": PULUMI_ONLY + " (makes each new version the default one)"},
    ),
    "aws:ec2/natGateway:NatGateway": CfnResource(
        "AWS::EC2::NatGateway",
        (
            *_props(allocationId="AllocationId", subnetId="SubnetId", connectivityType="ConnectivityType"),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:ec2/routeTable:RouteTable": CfnResource(
        "AWS::EC2::RouteTable",
        (
            _p("vpcId", "VpcId"),
            _p("tags", "Tags", tag_list),
            # Pulumi's inline routes are CloudFormation's AWS::EC2::Route.
            _p("routes[].cidrBlock", "DestinationCidrBlock", cfn_type=_ROUTE),
            _p("routes[].gatewayId", "GatewayId", cfn_type=_ROUTE),
            _p("routes[].natGatewayId", "NatGatewayId", cfn_type=_ROUTE),
            _p("routes[].vpcEndpointId", "VpcEndpointId", cfn_type=_ROUTE),
        ),
    ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": CfnResource(
        "AWS::EC2::SubnetRouteTableAssociation", _props(routeTableId="RouteTableId", subnetId="SubnetId")
    ),
    "aws:ec2/securityGroup:SecurityGroup": CfnResource(
        "AWS::EC2::SecurityGroup",
        (
            *_name("name", "GroupName"),
            _p("description", "GroupDescription"),
            _p("vpcId", "VpcId"),
            _p("tags", "Tags", tag_list),
            *(
                _p(f"ingress[].{w}", f"SecurityGroupIngress[].{c}")
                for w, c in (
                    ("description", "Description"),
                    ("fromPort", "FromPort"),
                    ("toPort", "ToPort"),
                    ("protocol", "IpProtocol"),
                    ("cidrBlocks[]", "CidrIp"),
                    ("ipv6CidrBlocks[]", "CidrIpv6"),
                    ("securityGroups[]", "SourceSecurityGroupId"),
                    ("prefixListIds[]", "SourcePrefixListId"),
                )
            ),
            *(
                _p(f"egress[].{w}", f"SecurityGroupEgress[].{c}")
                for w, c in (
                    ("description", "Description"),
                    ("fromPort", "FromPort"),
                    ("toPort", "ToPort"),
                    ("protocol", "IpProtocol"),
                    ("cidrBlocks[]", "CidrIp"),
                    ("ipv6CidrBlocks[]", "CidrIpv6"),
                    ("securityGroups[]", "DestinationSecurityGroupId"),
                    ("prefixListIds[]", "DestinationPrefixListId"),
                )
            ),
        ),
        {"revokeRulesOnDelete": PULUMI_ONLY},
    ),
    "aws:ec2/subnet:Subnet": CfnResource(
        "AWS::EC2::Subnet",
        (
            *_props(
                availabilityZone="AvailabilityZone",
                availabilityZoneId="AvailabilityZoneId",
                cidrBlock="CidrBlock",
                mapPublicIpOnLaunch="MapPublicIpOnLaunch",
                vpcId="VpcId",
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:ec2/vpc:Vpc": CfnResource(
        "AWS::EC2::VPC",
        (
            *_props(
                cidrBlock="CidrBlock",
                enableDnsHostnames="EnableDnsHostnames",
                enableDnsSupport="EnableDnsSupport",
                instanceTenancy="InstanceTenancy",
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": CfnResource(
        "AWS::EC2::VPCEndpoint",
        (
            *_props(
                serviceName="ServiceName",
                vpcEndpointType="VpcEndpointType",
                vpcId="VpcId",
                privateDnsEnabled="PrivateDnsEnabled",
                ipAddressType="IpAddressType",
                policy="PolicyDocument",
            ),
            _p("routeTableIds[]", "RouteTableIds[]"),
            _p("securityGroupIds[]", "SecurityGroupIds[]"),
            _p("subnetIds[]", "SubnetIds[]"),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:ecs/cluster:Cluster": CfnResource(
        "AWS::ECS::Cluster",
        (
            *_name("name", "ClusterName", prefix=False),
            _p("settings[].name", "ClusterSettings[].Name"),
            _p("settings[].value", "ClusterSettings[].Value"),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:ecs/service:Service": CfnResource(
        "AWS::ECS::Service",
        (
            *_name("name", "ServiceName", prefix=False),
            *_props(
                cluster="Cluster",
                taskDefinition="TaskDefinition",
                desiredCount="DesiredCount",
                launchType="LaunchType",
                platformVersion="PlatformVersion",
                propagateTags="PropagateTags",
                schedulingStrategy="SchedulingStrategy",
                healthCheckGracePeriodSeconds="HealthCheckGracePeriodSeconds",
                enableEcsManagedTags="EnableECSManagedTags",
                enableExecuteCommand="EnableExecuteCommand",
                deploymentMaximumPercent="DeploymentConfiguration.MaximumPercent",
                deploymentMinimumHealthyPercent="DeploymentConfiguration.MinimumHealthyPercent",
                deploymentCircuitBreaker__enable="DeploymentConfiguration.DeploymentCircuitBreaker.Enable",
                deploymentCircuitBreaker__rollback="DeploymentConfiguration.DeploymentCircuitBreaker.Rollback",
            ),
            _p(
                "networkConfiguration.assignPublicIp",
                "NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp",
                enabled,
            ),
            _p("networkConfiguration.securityGroups[]", "NetworkConfiguration.AwsvpcConfiguration.SecurityGroups[]"),
            _p("networkConfiguration.subnets[]", "NetworkConfiguration.AwsvpcConfiguration.Subnets[]"),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:ecs/taskDefinition:TaskDefinition": CfnResource(
        "AWS::ECS::TaskDefinition",
        (
            *_props(
                family="Family",
                cpu="Cpu",
                memory="Memory",
                networkMode="NetworkMode",
                executionRoleArn="ExecutionRoleArn",
                taskRoleArn="TaskRoleArn",
                runtimePlatform__cpuArchitecture="RuntimePlatform.CpuArchitecture",
                runtimePlatform__operatingSystemFamily="RuntimePlatform.OperatingSystemFamily",
            ),
            _p("requiresCompatibilities[]", "RequiresCompatibilities[]"),
            _p("containerDefinitions", "ContainerDefinitions", container_definitions),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:eks/cluster:Cluster": CfnResource(
        "AWS::EKS::Cluster",
        (
            *_name("name", "Name", prefix=False),
            *_props(
                roleArn="RoleArn",
                version="Version",
                bootstrapSelfManagedAddons="BootstrapSelfManagedAddons",
                deletionProtection="DeletionProtection",
                accessConfig__authenticationMode="AccessConfig.AuthenticationMode",
                accessConfig__bootstrapClusterCreatorAdminPermissions="AccessConfig.BootstrapClusterCreatorAdminPermissions",
                computeConfig__enabled="ComputeConfig.Enabled",
                computeConfig__nodeRoleArn="ComputeConfig.NodeRoleArn",
                kubernetesNetworkConfig__elasticLoadBalancing__enabled=(
                    "KubernetesNetworkConfig.ElasticLoadBalancing.Enabled"
                ),
                kubernetesNetworkConfig__ipFamily="KubernetesNetworkConfig.IpFamily",
                kubernetesNetworkConfig__serviceIpv4Cidr="KubernetesNetworkConfig.ServiceIpv4Cidr",
                storageConfig__blockStorage__enabled="StorageConfig.BlockStorage.Enabled",
                upgradePolicy__supportType="UpgradePolicy.SupportType",
                zonalShiftConfig__enabled="ZonalShiftConfig.Enabled",
                vpcConfig__endpointPrivateAccess="ResourcesVpcConfig.EndpointPrivateAccess",
                vpcConfig__endpointPublicAccess="ResourcesVpcConfig.EndpointPublicAccess",
            ),
            _p("computeConfig.nodePools[]", "ComputeConfig.NodePools[]"),
            # A list of log types in Pulumi; a list of {Type} under Logging.ClusterLogging in CloudFormation.
            _p("enabledClusterLogTypes[]", "Logging.ClusterLogging.EnabledTypes[].Type"),
            _p("vpcConfig.subnetIds[]", "ResourcesVpcConfig.SubnetIds[]"),
            _p("vpcConfig.securityGroupIds[]", "ResourcesVpcConfig.SecurityGroupIds[]"),
            _p("vpcConfig.publicAccessCidrs[]", "ResourcesVpcConfig.PublicAccessCidrs[]"),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": CfnResource(
        "AWS::EKS::PodIdentityAssociation",
        (
            *_props(
                clusterName="ClusterName",
                namespace="Namespace",
                serviceAccount="ServiceAccount",
                roleArn="RoleArn",
                targetRoleArn="TargetRoleArn",
                disableSessionTags="DisableSessionTags",
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:iam/instanceProfile:InstanceProfile": CfnResource(
        "AWS::IAM::InstanceProfile", (*_name("name", "InstanceProfileName"), *_props(role="Roles[]", path="Path"))
    ),
    "aws:iam/role:Role": CfnResource(
        "AWS::IAM::Role",
        (
            *_name("name", "RoleName"),
            *_props(
                assumeRolePolicy="AssumeRolePolicyDocument",
                description="Description",
                maxSessionDuration="MaxSessionDuration",
                path="Path",
                permissionsBoundary="PermissionsBoundary",
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:iam/rolePolicy:RolePolicy": CfnResource(
        "AWS::IAM::RolePolicy",
        (*_name("name", "PolicyName"), *_props(policy="PolicyDocument", role="RoleName")),
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": CfnResource(
        # An attachment is an item of the role's ManagedPolicyArns in CloudFormation.
        "AWS::IAM::Role",
        _props(policyArn="ManagedPolicyArns[]", role="RoleName"),
    ),
    "aws:kms/key:Key": CfnResource(
        "AWS::KMS::Key",
        (
            *_props(
                description="Description",
                deletionWindowInDays="PendingWindowInDays",
                enableKeyRotation="EnableKeyRotation",
                rotationPeriodInDays="RotationPeriodInDays",
                isEnabled="Enabled",
                keyUsage="KeyUsage",
                customerMasterKeySpec="KeySpec",
                multiRegion="MultiRegion",
                policy="KeyPolicy",
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:lb/listener:Listener": CfnResource(
        "AWS::ElasticLoadBalancingV2::Listener",
        (
            *_props(
                loadBalancerArn="LoadBalancerArn",
                port="Port",
                protocol="Protocol",
                sslPolicy="SslPolicy",
                certificateArn="Certificates[].CertificateArn",
                alpnPolicy="AlpnPolicy[]",
            ),
            *(
                _p(f"defaultActions[].{w}", f"DefaultActions[].{c}")
                for w, c in (
                    ("type", "Type"),
                    ("order", "Order"),
                    ("targetGroupArn", "TargetGroupArn"),
                    ("fixedResponse.contentType", "FixedResponseConfig.ContentType"),
                    ("fixedResponse.messageBody", "FixedResponseConfig.MessageBody"),
                    ("fixedResponse.statusCode", "FixedResponseConfig.StatusCode"),
                    ("redirect.host", "RedirectConfig.Host"),
                    ("redirect.path", "RedirectConfig.Path"),
                    ("redirect.port", "RedirectConfig.Port"),
                    ("redirect.protocol", "RedirectConfig.Protocol"),
                    ("redirect.query", "RedirectConfig.Query"),
                    ("redirect.statusCode", "RedirectConfig.StatusCode"),
                )
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:lb/listenerRule:ListenerRule": CfnResource(
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        (
            *_props(listenerArn="ListenerArn", priority="Priority"),
            _p("actions[].type", "Actions[].Type"),
            _p("actions[].order", "Actions[].Order"),
            _p("actions[].targetGroupArn", "Actions[].TargetGroupArn"),
            _p("conditions[].pathPattern.values", "Conditions[].PathPatternConfig.Values"),
            _p("conditions[].pathPattern.values[]", "Conditions[].PathPatternConfig.Values[]"),
            _p("conditions[].hostHeader.values[]", "Conditions[].HostHeaderConfig.Values[]"),
            _p("transforms[].type", "Transforms[].Type"),
            _p("transforms[].urlRewriteConfig.rewrite.regex", "Transforms[].UrlRewriteConfig.Rewrites[].Regex"),
            _p("transforms[].urlRewriteConfig.rewrite.replace", "Transforms[].UrlRewriteConfig.Rewrites[].Replace"),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:lb/loadBalancer:LoadBalancer": CfnResource(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        (
            *_name("name", "Name"),
            _p("internal", "Scheme", scheme),
            *_props(
                loadBalancerType="Type",
                ipAddressType="IpAddressType",
            ),
            _p("securityGroups[]", "SecurityGroups[]"),
            _p("subnets[]", "Subnets[]"),
            _p("tags", "Tags", tag_list),
            # Attributes are key-value strings in CloudFormation: the schema types them, no more.
            *(
                _p(w, "LoadBalancerAttributes[].Value", as_attribute)
                for w in (
                    "accessLogs.bucket",
                    "accessLogs.enabled",
                    "accessLogs.prefix",
                    "desyncMitigationMode",
                    "dropInvalidHeaderFields",
                    "enableDeletionProtection",
                    "enableHttp2",
                    "idleTimeout",
                )
            ),
        ),
    ),
    "aws:lb/targetGroup:TargetGroup": CfnResource(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        (
            *_name("name", "Name"),
            *_props(
                port="Port",
                protocol="Protocol",
                protocolVersion="ProtocolVersion",
                targetType="TargetType",
                vpcId="VpcId",
                ipAddressType="IpAddressType",
                healthCheck__enabled="HealthCheckEnabled",
                healthCheck__healthyThreshold="HealthyThresholdCount",
                healthCheck__unhealthyThreshold="UnhealthyThresholdCount",
                healthCheck__interval="HealthCheckIntervalSeconds",
                healthCheck__timeout="HealthCheckTimeoutSeconds",
                healthCheck__matcher="Matcher.HttpCode",
                healthCheck__path="HealthCheckPath",
                healthCheck__port="HealthCheckPort",
                healthCheck__protocol="HealthCheckProtocol",
            ),
            _p("tags", "Tags", tag_list),
            *(
                _p(w, "TargetGroupAttributes[].Value", as_attribute)
                for w in ("deregistrationDelay", "loadBalancingAlgorithmType", "slowStart")
            ),
        ),
    ),
    "aws:s3/bucket:Bucket": CfnResource(
        "AWS::S3::Bucket",
        (
            Prop("bucket", "BucketName", autoname=True),
            _p("bucketPrefix", "BucketName", with_unique_suffix),
            _p("tags", "Tags", tag_list),
        ),
        {"forceDestroy": PULUMI_ONLY + " (empties the bucket on destroy)"},
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": CfnResource(
        # The bucket's LifecycleConfiguration in CloudFormation.
        "AWS::S3::Bucket",
        (
            _p("bucket", "BucketName"),
            *(
                _p(f"rules[].{w}", f"LifecycleConfiguration.Rules[].{c}")
                for w, c in (
                    ("id", "Id"),
                    ("status", "Status"),
                    ("filter.prefix", "Prefix"),
                    ("expiration.days", "ExpirationInDays"),
                    (
                        "abortIncompleteMultipartUpload.daysAfterInitiation",
                        "AbortIncompleteMultipartUpload.DaysAfterInitiation",
                    ),
                    ("noncurrentVersionExpiration.noncurrentDays", "NoncurrentVersionExpiration.NoncurrentDays"),
                )
            ),
        ),
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": CfnResource(
        "AWS::S3::Bucket",
        _props(bucket="BucketName", rule__objectOwnership="OwnershipControls.Rules[].ObjectOwnership"),
    ),
    "aws:s3/bucketPolicy:BucketPolicy": CfnResource(
        "AWS::S3::BucketPolicy", _props(bucket="Bucket", policy="PolicyDocument")
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": CfnResource(
        "AWS::S3::Bucket",
        (
            _p("bucket", "BucketName"),
            *(
                _p(w, f"PublicAccessBlockConfiguration.{w[0].upper()}{w[1:]}")
                for w in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            ),
        ),
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": CfnResource(
        "AWS::S3::Bucket",
        (
            _p("bucket", "BucketName"),
            _p("rules[].bucketKeyEnabled", f"{_CFN_SSE}.BucketKeyEnabled"),
            _p(
                "rules[].applyServerSideEncryptionByDefault.sseAlgorithm",
                f"{_CFN_SSE}.ServerSideEncryptionByDefault.SSEAlgorithm",
            ),
            _p(
                "rules[].applyServerSideEncryptionByDefault.kmsMasterKeyId",
                f"{_CFN_SSE}.ServerSideEncryptionByDefault.KMSMasterKeyID",
            ),
        ),
    ),
    "aws:sagemaker/endpoint:Endpoint": CfnResource(
        "AWS::SageMaker::Endpoint",
        (
            *_name("name", "EndpointName", prefix=False),
            _p("endpointConfigName", "EndpointConfigName"),
            _p(
                "deploymentConfig.autoRollbackConfiguration.alarms[].alarmName",
                "DeploymentConfig.AutoRollbackConfiguration.Alarms[].AlarmName",
            ),
            *(
                _p(f"deploymentConfig.{policy}.{w}", f"DeploymentConfig.{cfn_policy}.{c}")
                for policy, cfn_policy in (
                    ("blueGreenUpdatePolicy", "BlueGreenUpdatePolicy"),
                    ("rollingUpdatePolicy", "RollingUpdatePolicy"),
                )
                for w, c in (
                    ("maximumExecutionTimeoutInSeconds", "MaximumExecutionTimeoutInSeconds"),
                    ("terminationWaitInSeconds", "TerminationWaitInSeconds"),
                    ("waitIntervalInSeconds", "WaitIntervalInSeconds"),
                    ("trafficRoutingConfiguration.type", "TrafficRoutingConfiguration.Type"),
                    (
                        "trafficRoutingConfiguration.waitIntervalInSeconds",
                        "TrafficRoutingConfiguration.WaitIntervalInSeconds",
                    ),
                    ("trafficRoutingConfiguration.canarySize.type", "TrafficRoutingConfiguration.CanarySize.Type"),
                    ("trafficRoutingConfiguration.canarySize.value", "TrafficRoutingConfiguration.CanarySize.Value"),
                    (
                        "trafficRoutingConfiguration.linearStepSize.type",
                        "TrafficRoutingConfiguration.LinearStepSize.Type",
                    ),
                    (
                        "trafficRoutingConfiguration.linearStepSize.value",
                        "TrafficRoutingConfiguration.LinearStepSize.Value",
                    ),
                    ("maximumBatchSize.type", "MaximumBatchSize.Type"),
                    ("maximumBatchSize.value", "MaximumBatchSize.Value"),
                    ("rollbackMaximumBatchSize.type", "RollbackMaximumBatchSize.Type"),
                    ("rollbackMaximumBatchSize.value", "RollbackMaximumBatchSize.Value"),
                )
                if (policy == "blueGreenUpdatePolicy") != w.startswith(("waitInterval", "maximumBatch", "rollback"))
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": CfnResource(
        "AWS::SageMaker::EndpointConfig",
        (
            *_name("name", "EndpointConfigName"),
            *_props(kmsKeyArn="KmsKeyId", executionRoleArn="ExecutionRoleArn"),
            *(
                _p(f"productionVariants[].{w}", f"ProductionVariants[].{c}")
                for w, c in (
                    ("variantName", "VariantName"),
                    ("modelName", "ModelName"),
                    ("instanceType", "InstanceType"),
                    ("initialInstanceCount", "InitialInstanceCount"),
                    ("initialVariantWeight", "InitialVariantWeight"),
                    ("inferenceAmiVersion", "InferenceAmiVersion"),
                    ("volumeSizeInGb", "VolumeSizeInGB"),
                    ("containerStartupHealthCheckTimeoutInSeconds", "ContainerStartupHealthCheckTimeoutInSeconds"),
                    ("modelDataDownloadTimeoutInSeconds", "ModelDataDownloadTimeoutInSeconds"),
                    ("enableSsmAccess", "EnableSSMAccess"),
                    # One routing configuration per variant in the API (RoutingConfig); a list of at most one in Pulumi.
                    ("routingConfigs[].routingStrategy", "RoutingConfig.RoutingStrategy"),
                )
            ),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:sagemaker/model:Model": CfnResource(
        "AWS::SageMaker::Model",
        (
            *_name("name", "ModelName", prefix=False),
            *_props(
                executionRoleArn="ExecutionRoleArn",
                enableNetworkIsolation="EnableNetworkIsolation",
                primaryContainer__image="PrimaryContainer.Image",
                primaryContainer__environment="PrimaryContainer.Environment",
                primaryContainer__mode="PrimaryContainer.Mode",
                primaryContainer__modelDataUrl="PrimaryContainer.ModelDataUrl",
            ),
            # One S3 data source per container in the API (S3DataSource); a list of at most one in Pulumi.
            *(
                _p(
                    f"primaryContainer.modelDataSource.s3DataSources[].{w}",
                    f"PrimaryContainer.ModelDataSource.S3DataSource.{c}",
                )
                for w, c in (("s3Uri", "S3Uri"), ("s3DataType", "S3DataType"), ("compressionType", "CompressionType"))
            ),
            _p("vpcConfig.securityGroupIds[]", "VpcConfig.SecurityGroupIds[]"),
            _p("vpcConfig.subnets[]", "VpcConfig.Subnets[]"),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:secretsmanager/secret:Secret": CfnResource(
        "AWS::SecretsManager::Secret",
        (
            *_name("name", "Name"),
            *_props(description="Description", kmsKeyId="KmsKeyId"),
            _p("tags", "Tags", tag_list),
        ),
        {
            "recoveryWindowInDays": (
                "a parameter of DeleteSecret, not a property of the secret: no CloudFormation schema has it "
                "(AWS takes 0 or 7 to 30; the program sets a constant)"
            )
        },
    ),
    "aws:sns/topic:Topic": CfnResource(
        "AWS::SNS::Topic",
        (
            *_name("name", "TopicName"),
            *_props(kmsMasterKeyId="KmsMasterKeyId", displayName="DisplayName"),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:sns/topicPolicy:TopicPolicy": CfnResource(
        "AWS::SNS::TopicPolicy", _props(arn="Topics[]", policy="PolicyDocument")
    ),
    "aws:sns/topicSubscription:TopicSubscription": CfnResource(
        "AWS::SNS::Subscription", _props(endpoint="Endpoint", protocol="Protocol", topic="TopicArn")
    ),
    "aws:sqs/queue:Queue": CfnResource(
        "AWS::SQS::Queue",
        (
            *_name("name", "QueueName"),
            *_props(
                delaySeconds="DelaySeconds",
                maxMessageSize="MaximumMessageSize",
                messageRetentionSeconds="MessageRetentionPeriod",
                receiveWaitTimeSeconds="ReceiveMessageWaitTimeSeconds",
                visibilityTimeoutSeconds="VisibilityTimeout",
                sqsManagedSseEnabled="SqsManagedSseEnabled",
                kmsMasterKeyId="KmsMasterKeyId",
                fifoQueue="FifoQueue",
            ),
            _p("redrivePolicy", "RedrivePolicy", json_object),
            _p("tags", "Tags", tag_list),
        ),
    ),
    "aws:sqs/queuePolicy:QueuePolicy": CfnResource(
        "AWS::SQS::QueuePolicy", _props(queueUrl="Queues[]", policy="PolicyDocument")
    ),
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": CfnResource(
        # The queue's RedriveAllowPolicy in CloudFormation.
        "AWS::SQS::Queue",
        (_p("redriveAllowPolicy", "RedriveAllowPolicy", json_object),),
        {"queueUrl": "names the queue: AWS assigns the URL at deploy time"},
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": CfnResource(
        # One rule of a security group, declared on its own (AuthorizeSecurityGroupIngress).
        "AWS::EC2::SecurityGroupIngress",
        _props(
            securityGroupId="GroupId",
            description="Description",
            fromPort="FromPort",
            toPort="ToPort",
            ipProtocol="IpProtocol",
            cidrIpv4="CidrIp",
            cidrIpv6="CidrIpv6",
            prefixListId="SourcePrefixListId",
            referencedSecurityGroupId="SourceSecurityGroupId",
        ),
    ),
}
"""Each AWS resource type the plans declare: its CloudFormation type and the wire properties
it checks. Skipped: ``llm-serving:*`` components (no AWS resource of their own), the
dynamic InstanceRefresh (``pulumi-python:dynamic``; it calls StartInstanceRefresh itself),
and Kubernetes objects and their provider (``kubernetes:*``, ``pulumi:providers:kubernetes``:
sent to the cluster's API server, checked by tests/k8s_schemas.py)."""

SKIPPED_TYPE = re.compile(r"^(llm-serving:|pulumi-python:dynamic|kubernetes:|pulumi:providers:kubernetes$)")


# ---------------------------------------------------------------------------- schemas


@functools.cache
def resource_schema(cfn_type: str) -> dict[str, Any]:
    return PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, cfn_type).schema  # type: ignore[no-any-return]


def _deref(root: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` (into the schema's definitions) merged in."""
    merged = dict(node)
    while "$ref" in merged:
        ref = merged.pop("$ref")
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        merged = {**target, **merged}
    return merged


def fragment(cfn_type: str, path: str) -> dict[str, Any]:
    """The schema of the property at ``path`` (``SecurityGroupIngress[].FromPort``), with the
    schema's definitions beside it so the references inside it resolve."""
    root = resource_schema(cfn_type)
    node = _deref(root, root)
    for token in _tokens(path):
        if token == "[]":
            if "items" not in node:
                raise KeyError(f"{cfn_type}: {path}: not a list at {token}")
            node = _deref(root, node["items"])
        else:
            properties = node.get("properties", {})
            if token not in properties:
                raise KeyError(f"{cfn_type}: {path}: no property {token} (has {', '.join(sorted(properties))})")
            node = _deref(root, properties[token])
    return {**node, "definitions": root.get("definitions", {})}


def _tokens(path: str) -> list[str]:
    return re.findall(r"\[\]|[^.\[\]]+", path)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    # The schemas' patterns use Unicode classes (\p{L}) that only the regex module knows.
    if isinstance(instance, str) and not regex.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _format_checker() -> jsonschema.FormatChecker:
    """cfn-lint's formats: CIDRs and addresses, and its patterns for ids and ARNs
    (``AWS::EC2::Image.Id``, ``AWS::Logs::LogGroup.Name``...)."""
    checker = jsonschema.FormatChecker([])
    for name, (check, raises) in cfn_format_checker.checkers.items():
        checker.checks(name, raises)(check)
    package = importlib.import_module("cfnlint.rules.formats")
    for module in pkgutil.iter_modules(package.__path__):
        for value in vars(importlib.import_module(f"{package.__name__}.{module.name}")).values():
            if isinstance(value, type) and issubclass(value, FormatKeyword) and value is not FormatKeyword:
                rule = value()
                if rule.format_keyword and rule.pattern:
                    checker.checks(rule.format_keyword)(_matches(rule.pattern))
    return checker


def _matches(pattern: str) -> Callable[[object], bool]:
    return lambda instance: not isinstance(instance, str) or bool(regex.match(pattern, instance))


_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})
_FORMATS = _format_checker()


@functools.cache
def _validator(cfn_type: str, path: str) -> Any:
    return _Validator(fragment(cfn_type, path), format_checker=_FORMATS)


# -------------------------------------------------------------------------------- check


@dataclass(frozen=True)
class Violation:
    resource: PlannedResource
    wire: str
    cfn: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.resource.type} {self.resource.name}: {self.wire} -> {self.cfn}: {self.message}"


_PREFIXES = ("namePrefix", "bucketPrefix")


def values(resource: PlannedResource, inputs: Mapping[str, Any], prop: Prop) -> Iterator[tuple[str, Any]]:
    """(concrete wire path, value as CloudFormation takes it) for each value of ``prop`` in
    ``inputs`` (rendered: what AWS assigns at deploy time reads ``<computed>``). Those values
    are left out: of a list or a map, only its known items are checked."""
    if prop.autoname and prop.wire not in inputs and not any(p in inputs for p in _PREFIXES):
        yield f"{prop.wire} (autonamed)", f"{resource.name}{AUTONAME_SUFFIX}"
        return
    for where, value in _walk(inputs, _tokens(prop.wire), ""):
        value = _known(value)
        if value is _UNKNOWN:
            continue
        yield where, prop.convert(value) if prop.convert else value


_UNKNOWN = object()


def _known(value: Any) -> Any:
    if value == COMPUTED or value is None:
        return _UNKNOWN
    if isinstance(value, list):
        return [k for k in map(_known, value) if k is not _UNKNOWN]
    if isinstance(value, Mapping):
        return {key: k for key, k in ((key, _known(v)) for key, v in value.items()) if k is not _UNKNOWN}
    return value


def _walk(node: Any, tokens: list[str], where: str) -> Iterator[tuple[str, Any]]:
    if not tokens:
        yield where, node
        return
    head, rest = tokens[0], tokens[1:]
    if head == "[]":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _walk(item, rest, f"{where}[{i}]")
    elif isinstance(node, Mapping) and head in node:
        yield from _walk(node[head], rest, f"{where}.{head}" if where else head)


def resource_violations(resource: PlannedResource, computed: frozenset[str] = frozenset()) -> list[Violation]:
    entry = TABLE[resource.type]
    inputs = render({key: resource.input(key) for key in resource.inputs}, computed)
    found = []
    for prop in entry.props:
        cfn_type = prop.cfn_type or entry.cfn_type
        assert cfn_type is not None
        validator = _validator(cfn_type, prop.cfn)
        for where, value in values(resource, inputs, prop):
            for error in validator.iter_errors(value):
                at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
                found.append(Violation(resource, where, f"{cfn_type}.{prop.cfn}{at}", value, error.message))
    return found


def violations(plan: Plan) -> list[Violation]:
    """Every value of the plan that AWS's CloudFormation schemas refuse."""
    return [v for r in plan.resources if not SKIPPED_TYPE.match(r.type) for v in resource_violations(r, plan.computed)]


def unclassified(plan: Plan) -> list[str]:
    """Resource types, and top-level inputs of known types, that the table neither checks nor
    leaves out with a reason."""
    problems = set()
    for r in plan.resources:
        if SKIPPED_TYPE.match(r.type):
            continue
        entry = TABLE.get(r.type)
        if entry is None:
            problems.add(f"{r.type}: not in the table")
            continue
        covered = {_tokens(p.wire)[0] for p in entry.props} | set(entry.left_out)
        problems |= {f"{r.type}: input {key} is neither mapped nor left out" for key in r.inputs if key not in covered}
    return sorted(problems)
