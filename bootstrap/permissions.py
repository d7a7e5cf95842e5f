"""What CI may do in AWS for one stack: the preview role reads, the deploy role creates,
changes and deletes what the program declares, and nothing else.

One table, ``SERVICES``: per AWS service the actions a ``pulumi preview --refresh`` needs to
read the program's resources and those a ``pulumi up`` needs to change them (the calls the
provider's create, read, update and delete make for those types, per the AWS service
authorization reference), with the ARN pattern that scopes them. ``TYPES`` maps every
resource type the program declares to its service; a test fails when the program declares a
type this file does not know, so the roles never lag behind the program silently.

Scoping. Resources are scoped to the account and the stack's region everywhere AWS allows
it. Auto Scaling groups are also scoped by name (the program names them
``llm-<stack>-<model>-...``), the dashboard by its name, and buckets by their logical names
(so no other bucket in the account, the state bucket included, is reachable). Other names are Pulumi's
auto-names (logical name plus a random suffix) with no stack in them, so those resources
cannot be told from others in the account by name: keep one AWS account per environment,
or at least nothing else in the stack's region. Actions that AWS only authorizes on
``"*"`` (the EC2, ELB and Auto Scaling ``Describe*`` calls, ``kms:CreateKey``,
``sts:GetCallerIdentity``) are limited to the region by ``aws:RequestedRegion`` instead.

Besides ``pulumi up``, the deploy workflow runs two commands with the deploy role (tests
check both lists against it): ``llm-serving rollout wait`` (``ROLLOUT_ACTIONS`` in
infra/rollout.py: ``autoscaling:DescribeInstanceRefreshes``, in ``autoscaling:Describe*``)
and ``llm-serving smoke`` (``SMOKE_ACTIONS`` in infra/smoke.py). For the smoke test it may
also send to the models' request queues (not their dead-letter queues) and read objects
under ``results/`` in the results bucket, nothing else of theirs; the rest the smoke test
needs (DescribeAutoScalingGroups, DescribeAlarms, ListBucket on the results bucket) it
already has to read the resources. The drift check runs ``pulumi preview --refresh`` with the
preview role: reads only.

What no policy can scope here: the deploy role creates IAM roles and passes them to EC2
(the GPU instances' role), to VPC Flow Logs, to CodeBuild (the weights staging project's
role), to SageMaker (an endpoint's execution role) and to ECS tasks (its queue worker's);
``iam:PassedToService`` limits where they go, and a Deny keeps the CI roles and the
bootstrap's own key and bucket out of reach, but the roles it creates could be given any
policy. A permissions boundary on the program's roles would close that (docs/cicd.md,
"Least privilege").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Statement = dict[str, Any]


@dataclass(frozen=True)
class Service:
    read: tuple[str, ...]
    """Actions ``pulumi preview --refresh`` needs to read the resources."""
    write: tuple[str, ...]
    """Further actions ``pulumi up`` needs to create, change and delete them."""
    resources: tuple[str, ...]
    """ARN patterns: ``{r}`` region, ``{a}`` account, ``{s}`` stack (``{sl}`` in lower case)."""
    regional_star: tuple[str, ...] = ()
    """Actions AWS authorizes on ``*`` only: allowed in the stack's region."""


RESULTS_BUCKET = "results-bucket-*"
BUCKETS = (RESULTS_BUCKET, "weights-bucket-*", "models-access-logs-bucket-*")
"""The program's buckets: Pulumi auto-names them ``<logical name>-<random>``, and these are
their logical names (components/results_bucket.py, components/weights_bucket.py,
components/load_balancer.py). A test checks every bucket of the plans matches one."""
RESULTS_PREFIX = "results/"
"""Where the results bucket holds results: ``results/<model>/<id>.json``
(components/results_bucket.py, model_server.messages.result_key; a test keeps them equal)."""
REQUEST_QUEUES = "*-queue-*"
"""The models' request queues: Pulumi auto-names them ``<model>-queue-<random>``
(components/request_queue.py); their dead-letter queues, ``<model>-dlq-<random>``, do not
match. A test checks the plans' queues."""

SERVICES: Mapping[str, Service] = {
    "ec2": Service(
        read=("ec2:DescribeVpcAttribute",),
        write=(
            "ec2:AllocateAddress",
            "ec2:AssociateRouteTable",
            "ec2:AttachInternetGateway",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:CreateFlowLogs",
            "ec2:CreateInternetGateway",
            "ec2:CreateLaunchTemplate",
            "ec2:CreateLaunchTemplateVersion",
            "ec2:CreateNatGateway",
            "ec2:CreateRoute",
            "ec2:CreateRouteTable",
            "ec2:CreateSecurityGroup",
            "ec2:CreateSubnet",
            "ec2:CreateTags",
            "ec2:CreateVpc",
            "ec2:CreateVpcEndpoint",
            "ec2:DeleteFlowLogs",
            "ec2:DeleteInternetGateway",
            "ec2:DeleteLaunchTemplate",
            "ec2:DeleteLaunchTemplateVersions",
            "ec2:DeleteNatGateway",
            "ec2:DeleteRoute",
            "ec2:DeleteRouteTable",
            "ec2:DeleteSecurityGroup",
            "ec2:DeleteSubnet",
            "ec2:DeleteTags",
            "ec2:DeleteVpc",
            "ec2:DeleteVpcEndpoints",
            "ec2:DetachInternetGateway",
            "ec2:DisassociateAddress",
            "ec2:DisassociateRouteTable",
            "ec2:ModifyLaunchTemplate",
            "ec2:ModifySecurityGroupRules",
            "ec2:ModifySubnetAttribute",
            "ec2:ModifyVpcAttribute",
            "ec2:ModifyVpcEndpoint",
            "ec2:ReleaseAddress",
            "ec2:ReplaceRoute",
            "ec2:ReplaceRouteTableAssociation",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupIngress",
            # Creating a group that launches from a template checks that the caller may.
            "ec2:RunInstances",
            "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
            "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
        ),
        resources=("arn:aws:ec2:{r}:{a}:*", "arn:aws:ec2:{r}::image/*"),
        regional_star=(
            "ec2:DescribeAccountAttributes",
            "ec2:DescribeAddresses",
            "ec2:DescribeAddressesAttribute",
            "ec2:DescribeAvailabilityZones",
            "ec2:DescribeFlowLogs",
            "ec2:DescribeImages",
            "ec2:DescribeInstanceTypeOfferings",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeInstances",
            "ec2:DescribeInternetGateways",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeNatGateways",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribePrefixLists",
            "ec2:DescribeRouteTables",
            "ec2:DescribeSecurityGroupRules",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeTags",
            "ec2:DescribeVpcEndpointServices",
            "ec2:DescribeVpcEndpoints",
            "ec2:DescribeVpcs",
        ),
    ),
    "autoscaling": Service(
        read=(),
        write=(
            "autoscaling:AttachTrafficSources",
            "autoscaling:AttachLoadBalancerTargetGroups",
            "autoscaling:CancelInstanceRefresh",
            "autoscaling:CreateAutoScalingGroup",
            "autoscaling:CreateOrUpdateTags",
            "autoscaling:DeleteAutoScalingGroup",
            "autoscaling:DeleteLifecycleHook",
            "autoscaling:DeletePolicy",
            "autoscaling:DeleteScheduledAction",
            "autoscaling:DeleteTags",
            "autoscaling:DeleteWarmPool",
            "autoscaling:DetachLoadBalancerTargetGroups",
            "autoscaling:DetachTrafficSources",
            "autoscaling:DisableMetricsCollection",
            "autoscaling:EnableMetricsCollection",
            "autoscaling:PutLifecycleHook",
            "autoscaling:PutScalingPolicy",
            "autoscaling:PutScheduledUpdateGroupAction",
            "autoscaling:PutWarmPool",
            "autoscaling:ResumeProcesses",
            "autoscaling:SetInstanceProtection",
            "autoscaling:StartInstanceRefresh",
            "autoscaling:SuspendProcesses",
            "autoscaling:UpdateAutoScalingGroup",
        ),
        resources=("arn:aws:autoscaling:{r}:{a}:autoScalingGroup:*:autoScalingGroupName/llm-{s}-*",),
        regional_star=("autoscaling:Describe*",),
    ),
    "elasticloadbalancing": Service(
        read=(),
        write=(
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:CreateListener",
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:CreateRule",
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:DeleteListener",
            "elasticloadbalancing:DeleteLoadBalancer",
            "elasticloadbalancing:DeleteRule",
            "elasticloadbalancing:DeleteTargetGroup",
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:ModifyListenerAttributes",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
            "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            "elasticloadbalancing:RemoveTags",
            "elasticloadbalancing:SetRulePriorities",
            "elasticloadbalancing:SetSecurityGroups",
            "elasticloadbalancing:SetSubnets",
        ),
        resources=("arn:aws:elasticloadbalancing:{r}:{a}:*",),
        regional_star=("elasticloadbalancing:Describe*",),
    ),
    "sqs": Service(
        read=("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"),
        write=("sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue"),
        resources=("arn:aws:sqs:{r}:{a}:*",),
    ),
    "s3": Service(
        read=(
            "s3:GetAccelerateConfiguration",
            "s3:GetBucketAcl",
            "s3:GetBucketCORS",
            "s3:GetBucketLogging",
            "s3:GetBucketObjectLockConfiguration",
            "s3:GetBucketOwnershipControls",
            "s3:GetBucketPolicy",
            "s3:GetBucketPublicAccessBlock",
            "s3:GetBucketRequestPayment",
            "s3:GetBucketTagging",
            "s3:GetBucketVersioning",
            "s3:GetBucketWebsite",
            "s3:GetEncryptionConfiguration",
            "s3:GetLifecycleConfiguration",
            "s3:GetReplicationConfiguration",
            "s3:ListBucket",
        ),
        write=(
            "s3:CreateBucket",
            "s3:DeleteBucket",
            "s3:DeleteBucketPolicy",
            "s3:ListBucketVersions",
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketPolicy",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketTagging",
            "s3:PutEncryptionConfiguration",
            "s3:PutLifecycleConfiguration",
        ),
        resources=tuple(f"arn:aws:s3:::{b}" for b in BUCKETS),
    ),
    "s3-objects": Service(
        # Emptying a dev bucket on destroy (force_destroy): objects and their versions.
        read=(),
        write=("s3:DeleteObject", "s3:DeleteObjectVersion"),
        resources=tuple(f"arn:aws:s3:::{b}/*" for b in BUCKETS),
    ),
    # EKS: the stack's cluster (when it creates one) and the Pod Identity associations of KEDA
    # and the models. Kubernetes objects are written through the cluster's API with the
    # deployer's access entry (the cluster's creator, or one the cluster's owners grant), not
    # IAM: `aws eks get-token` needs no IAM action beyond the caller's identity.
    "eks": Service(
        read=(
            "eks:DescribeCluster",
            "eks:DescribePodIdentityAssociation",
            "eks:ListPodIdentityAssociations",
            "eks:ListTagsForResource",
        ),
        write=(
            "eks:CreatePodIdentityAssociation",
            "eks:DeleteCluster",
            "eks:DeletePodIdentityAssociation",
            "eks:TagResource",
            "eks:UntagResource",
            "eks:UpdateClusterConfig",
            "eks:UpdateClusterVersion",
            "eks:UpdatePodIdentityAssociation",
            # The provider waits for UpdateClusterConfig and UpdateClusterVersion through it.
            "eks:DescribeUpdate",
        ),
        resources=("arn:aws:eks:{r}:{a}:cluster/*", "arn:aws:eks:{r}:{a}:podidentityassociation/*"),
        regional_star=("eks:CreateCluster",),
    ),
    "iam": Service(
        read=(
            "iam:GetInstanceProfile",
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListInstanceProfilesForRole",
            "iam:ListRolePolicies",
        ),
        write=(
            "iam:AddRoleToInstanceProfile",
            "iam:AttachRolePolicy",
            "iam:CreateInstanceProfile",
            "iam:CreateRole",
            "iam:DeleteInstanceProfile",
            "iam:DeleteRole",
            "iam:DeleteRolePolicy",
            "iam:DetachRolePolicy",
            "iam:PutRolePolicy",
            "iam:RemoveRoleFromInstanceProfile",
            "iam:TagInstanceProfile",
            "iam:TagRole",
            "iam:UntagInstanceProfile",
            "iam:UntagRole",
            "iam:UpdateAssumeRolePolicy",
            "iam:UpdateRole",
        ),
        resources=("arn:aws:iam::{a}:role/*", "arn:aws:iam::{a}:instance-profile/*"),
    ),
    "kms": Service(
        read=("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"),
        write=(
            "kms:EnableKeyRotation",
            "kms:PutKeyPolicy",
            "kms:ScheduleKeyDeletion",
            "kms:TagResource",
            "kms:UntagResource",
            "kms:UpdateKeyDescription",
        ),
        resources=("arn:aws:kms:{r}:{a}:key/*",),
        regional_star=("kms:CreateKey",),
    ),
    "sns": Service(
        read=(
            "sns:GetTopicAttributes",
            "sns:ListSubscriptionsByTopic",
            "sns:ListTagsForResource",
        ),
        write=(
            "sns:CreateTopic",
            "sns:DeleteTopic",
            "sns:SetTopicAttributes",
            "sns:Subscribe",
            "sns:TagResource",
            "sns:UntagResource",
        ),
        resources=("arn:aws:sns:{r}:{a}:*",),
        # Subscriptions are authorized on "*" only.
        regional_star=("sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe"),
    ),
    "cloudwatch": Service(
        read=("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
        write=(
            "cloudwatch:DeleteAlarms",
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
        ),
        resources=("arn:aws:cloudwatch:{r}:{a}:alarm:*",),
    ),
    "dashboard": Service(
        read=("cloudwatch:GetDashboard",),
        write=("cloudwatch:DeleteDashboards", "cloudwatch:PutDashboard"),
        resources=("arn:aws:cloudwatch::{a}:dashboard/llm-serving-{s}",),
    ),
    "events": Service(
        read=("events:DescribeRule", "events:ListTagsForResource", "events:ListTargetsByRule"),
        write=(
            "events:DeleteRule",
            "events:PutRule",
            "events:PutTargets",
            "events:RemoveTargets",
            "events:TagResource",
            "events:UntagResource",
        ),
        resources=("arn:aws:events:{r}:{a}:rule/*",),
    ),
    "logs": Service(
        read=("logs:ListTagsForResource", "logs:ListTagsLogGroup"),
        write=(
            "logs:CreateLogGroup",
            "logs:DeleteLogGroup",
            "logs:DeleteRetentionPolicy",
            "logs:PutRetentionPolicy",
            "logs:TagLogGroup",
            "logs:TagResource",
            "logs:UntagLogGroup",
            "logs:UntagResource",
        ),
        resources=("arn:aws:logs:{r}:{a}:log-group:*",),
        regional_star=("logs:DescribeLogGroups",),
    ),
    "secretsmanager": Service(
        read=("secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:GetSecretValue"),
        write=(
            "secretsmanager:CreateSecret",
            "secretsmanager:DeleteResourcePolicy",
            "secretsmanager:DeleteSecret",
            "secretsmanager:PutResourcePolicy",
            "secretsmanager:PutSecretValue",
            "secretsmanager:TagResource",
            "secretsmanager:UntagResource",
            "secretsmanager:UpdateSecret",
        ),
        resources=("arn:aws:secretsmanager:{r}:{a}:secret:*",),
    ),
    "codebuild": Service(
        # The weights staging project (components/weights_staging.py), named llm-<stack>-weights-staging.
        read=("codebuild:BatchGetProjects",),
        write=("codebuild:CreateProject", "codebuild:DeleteProject", "codebuild:UpdateProject"),
        resources=("arn:aws:codebuild:{r}:{a}:project/llm-{s}-*",),
    ),
    "sagemaker": Service(
        # SageMaker models (components/sagemaker/endpoint.py): the endpoint is named
        # llm-<stack>-<model>-<type>, models and endpoint configurations llm-<stack>-<model>-<hash>;
        # SageMaker writes names in lower case in its ARNs.
        read=(
            "sagemaker:DescribeEndpoint",
            "sagemaker:DescribeEndpointConfig",
            "sagemaker:DescribeModel",
            "sagemaker:ListTags",
        ),
        write=(
            "sagemaker:AddTags",
            "sagemaker:CreateEndpoint",
            "sagemaker:CreateEndpointConfig",
            "sagemaker:CreateModel",
            "sagemaker:DeleteEndpoint",
            "sagemaker:DeleteEndpointConfig",
            "sagemaker:DeleteModel",
            "sagemaker:DeleteTags",
            "sagemaker:UpdateEndpoint",
            # Registering a variant as a scalable target (SageMaker, "Auto scaling prerequisites":
            # the permissions a policy of your own needs).
            "sagemaker:UpdateEndpointWeightsAndCapacities",
        ),
        resources=(
            "arn:aws:sagemaker:{r}:{a}:endpoint/llm-{sl}-*",
            "arn:aws:sagemaker:{r}:{a}:endpoint-config/llm-{sl}-*",
            "arn:aws:sagemaker:{r}:{a}:model/llm-{sl}-*",
        ),
    ),
    "application-autoscaling": Service(
        # The SageMaker variants' scaling (components/sagemaker/endpoint.py): scalable targets,
        # their policies and scheduled actions (ARNs with a random id, so by account). The
        # Describe calls authorize on * only. It calls SageMaker with its service-linked role.
        read=("application-autoscaling:ListTagsForResource",),
        write=(
            "application-autoscaling:DeleteScalingPolicy",
            "application-autoscaling:DeleteScheduledAction",
            "application-autoscaling:DeregisterScalableTarget",
            "application-autoscaling:PutScalingPolicy",
            "application-autoscaling:PutScheduledAction",
            "application-autoscaling:RegisterScalableTarget",
            "application-autoscaling:TagResource",
            "application-autoscaling:UntagResource",
        ),
        resources=("arn:aws:application-autoscaling:{r}:{a}:scalable-target/*",),
        regional_star=(
            "application-autoscaling:DescribeScalableTargets",
            "application-autoscaling:DescribeScalingPolicies",
            "application-autoscaling:DescribeScheduledActions",
        ),
    ),
    "ecs": Service(
        # The SageMaker models' queue workers (components/sagemaker/worker_service.py).
        read=("ecs:DescribeClusters", "ecs:DescribeServices", "ecs:ListTagsForResource"),
        write=(
            "ecs:CreateCluster",
            "ecs:CreateService",
            "ecs:DeleteCluster",
            "ecs:DeleteService",
            "ecs:RegisterTaskDefinition",
            "ecs:TagResource",
            "ecs:UntagResource",
            "ecs:UpdateCluster",
            "ecs:UpdateService",
        ),
        resources=(
            "arn:aws:ecs:{r}:{a}:cluster/*",
            "arn:aws:ecs:{r}:{a}:service/*",
            "arn:aws:ecs:{r}:{a}:task-definition/llm-{s}-*",
        ),
        # These two authorize on * only (Service Authorization Reference).
        regional_star=("ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition"),
    ),
    "lookups": Service(
        # Invokes the program makes at every preview: the account id; the availability
        # zones, existing subnets, the pinned AMI and the endpoint services (infra/preflight.py)
        # come with ec2:Describe*.
        read=(),
        write=(),
        resources=(),
        regional_star=("sts:GetCallerIdentity",),
    ),
}

TYPES: Mapping[str, str] = {
    "aws:autoscaling/group:Group": "autoscaling",
    "aws:autoscaling/policy:Policy": "autoscaling",
    "aws:autoscaling/schedule:Schedule": "autoscaling",
    "aws:appautoscaling/policy:Policy": "application-autoscaling",
    "aws:appautoscaling/scheduledAction:ScheduledAction": "application-autoscaling",
    "aws:appautoscaling/target:Target": "application-autoscaling",
    "aws:ecs/cluster:Cluster": "ecs",
    "aws:eks/cluster:Cluster": "eks",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "eks",
    "aws:ecs/service:Service": "ecs",
    "aws:ecs/taskDefinition:TaskDefinition": "ecs",
    "aws:sagemaker/endpoint:Endpoint": "sagemaker",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "sagemaker",
    "aws:sagemaker/model:Model": "sagemaker",
    "aws:cloudwatch/dashboard:Dashboard": "dashboard",
    "aws:codebuild/project:Project": "codebuild",
    "aws:cloudwatch/eventRule:EventRule": "events",
    "aws:cloudwatch/eventTarget:EventTarget": "events",
    "aws:cloudwatch/logGroup:LogGroup": "logs",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "cloudwatch",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "ec2",
    "aws:ec2/eip:Eip": "ec2",
    "aws:ec2/flowLog:FlowLog": "ec2",
    "aws:ec2/internetGateway:InternetGateway": "ec2",
    "aws:ec2/launchTemplate:LaunchTemplate": "ec2",
    "aws:ec2/natGateway:NatGateway": "ec2",
    "aws:ec2/routeTable:RouteTable": "ec2",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "ec2",
    "aws:ec2/securityGroup:SecurityGroup": "ec2",
    "aws:ec2/subnet:Subnet": "ec2",
    "aws:ec2/vpc:Vpc": "ec2",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "ec2",
    "aws:iam/instanceProfile:InstanceProfile": "iam",
    "aws:iam/role:Role": "iam",
    "aws:iam/rolePolicy:RolePolicy": "iam",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "iam",
    "aws:kms/key:Key": "kms",
    "aws:lb/listener:Listener": "elasticloadbalancing",
    "aws:lb/listenerRule:ListenerRule": "elasticloadbalancing",
    "aws:lb/loadBalancer:LoadBalancer": "elasticloadbalancing",
    "aws:lb/targetGroup:TargetGroup": "elasticloadbalancing",
    "aws:s3/bucket:Bucket": "s3",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "s3",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "s3",
    "aws:s3/bucketPolicy:BucketPolicy": "s3",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "s3",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "s3",
    "aws:secretsmanager/secret:Secret": "secretsmanager",
    "aws:secretsmanager/secretVersion:SecretVersion": "secretsmanager",
    "aws:sns/topic:Topic": "sns",
    "aws:sns/topicPolicy:TopicPolicy": "sns",
    "aws:sns/topicSubscription:TopicSubscription": "sns",
    "aws:sqs/queue:Queue": "sqs",
    "aws:sqs/queuePolicy:QueuePolicy": "sqs",
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": "sqs",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "ec2",
    # Kubernetes objects go through the EKS cluster's API, reached with `aws eks get-token`
    # (eks:DescribeCluster to find the cluster; the rest is the deployer's access entry).
    "pulumi:providers:kubernetes": "eks",
    "kubernetes:apps/v1:Deployment": "eks",
    "kubernetes:core/v1:Namespace": "eks",
    "kubernetes:core/v1:Service": "eks",
    "kubernetes:core/v1:ServiceAccount": "eks",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": "eks",
    "kubernetes:policy/v1:PodDisruptionBudget": "eks",
    "kubernetes:helm.sh/v3:Release": "eks",
    "kubernetes:karpenter.sh/v1:NodePool": "eks",
    "kubernetes:keda.sh/v1alpha1:ScaledObject": "eks",
    "kubernetes:keda.sh/v1alpha1:TriggerAuthentication": "eks",
    "kubernetes:eks.amazonaws.com/v1:TargetGroupBinding": "eks",
    "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding": "eks",
    # The rollout resource starts, cancels and reads instance refreshes from the deployer's
    # process (components/ec2/fleet_rollout.py): autoscaling's Start/CancelInstanceRefresh, Describe*.
    "pulumi-python:dynamic/llm-serving:InstanceRefresh": "autoscaling",
}
"""Every resource type the program declares -> the entry of ``SERVICES`` that covers it."""

READ_VERBS = ("Describe", "Get", "List")
"""Of the actions authorized on ``*`` only, the preview role gets those that read."""
PASSED_TO = (
    "codebuild.amazonaws.com",
    "ec2.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "eks.amazonaws.com",
    "pods.eks.amazonaws.com",
    "sagemaker.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
)
"""Where the deploy role may pass the roles it creates: the weights staging project's service
role, the GPU instances' role (through their instance profile) and the flow logs' delivery role. EKS
gets the cluster's role (and, through its compute config, the node role); Pod Identity the
pods' and KEDA's roles."""
SERVICE_LINKED = (
    "autoscaling.amazonaws.com",
    "ecs.amazonaws.com",
    "eks.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "sagemaker.application-autoscaling.amazonaws.com",
)
"""Service-linked roles AWS creates on first use of these services in an account."""


def _arns(patterns: Sequence[str], region: str, account: str, stack: str) -> list[str]:
    return [p.format(r=region, a=account, s=stack, sl=stack.lower()) for p in patterns]


def statements(
    *, write: bool, region: str, account: str, stack: str, protected_arns: Sequence[str] = ()
) -> list[Statement]:
    """The policy statements of the preview role (``write=False``) or the deploy role."""
    out: list[Statement] = []
    star: set[str] = set()
    for name, service in sorted(SERVICES.items()):
        actions = sorted({*service.read, *(service.write if write else ())})
        if actions:
            sid = "".join(part.capitalize() for part in name.split("-"))
            out.append(
                {
                    "Sid": f"{'Manage' if write else 'Read'}{sid}",
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": _arns(service.resources, region, account, stack),
                }
            )
        star.update(a for a in service.regional_star if write or a.split(":")[1].startswith(READ_VERBS))
    out.append(
        {
            "Sid": "RegionOnlyActions",
            "Effect": "Allow",
            "Action": sorted(star),
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        }
    )
    if write:
        out += [
            {
                "Sid": "SmokeTestSendsRequests",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [f"arn:aws:sqs:{region}:{account}:{REQUEST_QUEUES}"],
            },
            {
                "Sid": "SmokeTestReadsResults",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{RESULTS_BUCKET}/{RESULTS_PREFIX}*"],
            },
            {
                "Sid": "PassRolesToTheServicesThatRunThem",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [f"arn:aws:iam::{account}:role/*"],
                "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO)}},
            },
            {
                "Sid": "ServiceLinkedRoles",
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": [f"arn:aws:iam::{account}:role/aws-service-role/*"],
                "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED)}},
            },
        ]
    if write and protected_arns:
        out.append(
            {
                "Sid": "KeepOffTheBootstrap",
                "Effect": "Deny",
                "Action": ["iam:*", "kms:*", "s3:*"],
                "Resource": list(protected_arns),
            }
        )
    return out
