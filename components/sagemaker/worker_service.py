"""The queue worker of a SageMaker model, as an ECS Fargate service in the private subnets.

Creates: an ECS cluster, the worker's log group, a task role (its queue, its results
prefix, its endpoint), an execution role (pull the worker image, write its log group), a
security group with no ingress, the task definition and the service.

Why Fargate: the worker is the same program as on EC2 (``WORKER_ENGINE=sagemaker``), so
the queue's at-least-once contract, its dead-letter queue and its drain stay as they are;
it waits on the endpoint with asyncio, so a quarter of a vCPU feeds many GPU instances; it
runs as long as a generation takes (Lambda stops at 15 minutes and bills the wait); and
the endpoint stays a real-time one that synchronous callers share (asynchronous inference
would replace the queue with its own S3 contract). The worker takes as many requests as
the endpoint's instances can batch (``WORKER_MAX_IN_FLIGHT_PER_INSTANCE`` x the instances it
reads from SageMaker), so tasks need not scale with the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import _ecr, _policy
from components.network import https_egress
from model_server.worker.settings import FARGATE_MAX_STOP_TIMEOUT_SECONDS, WorkerSettings

REQUIRED_WITHOUT_NAT: dict[str, str] = {
    "sagemaker.runtime": "the queue worker invokes the model's endpoint",
    "sagemaker.api": "the queue worker reads the endpoint's status and instances (DescribeEndpoint)",
}
"""Interface endpoints the worker of a SageMaker model needs in a VPC with no NAT gateway,
beside the fleet's (components.network.REQUIRED_WITHOUT_NAT: ECR, SQS, logs)."""
CPU_UNITS = 256
MEMORY_MIB = 512
"""The smallest Fargate task (0.25 vCPU, 0.5 GB): the worker mostly waits on the endpoint."""


@dataclass(frozen=True, kw_only=True)
class QueueWorkerServiceArgs:
    model: str
    name_prefix: str
    worker_image: str
    environment: Mapping[str, pulumi.Input[str]]
    """The worker's whole configuration (docs/worker.md); ``AWS_REGION`` (the stack's) and
    ``WORKER_DRAIN_SECONDS`` are added."""
    task_policies: Mapping[str, pulumi.Input[str]]
    """IAM policy documents of the task role, by label: queue, results, endpoint."""
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    tasks: int = 1
    drain_seconds: int = int(WorkerSettings.model_fields["drain_seconds"].default)
    """The worker's drain budget on SIGTERM (the worker's own default), set in its environment."""
    log_retention_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.drain_seconds >= FARGATE_MAX_STOP_TIMEOUT_SECONDS:
            raise ValueError(
                f"drain_seconds must end before Fargate's {FARGATE_MAX_STOP_TIMEOUT_SECONDS} s stop timeout"
            )
        if self.tasks < 1:
            raise ValueError("tasks must be at least 1")


class QueueWorkerService(pulumi.ComponentResource):
    service_name: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: QueueWorkerServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:QueueWorkerService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        cluster = aws.ecs.Cluster(
            f"{name}-workers",
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            tags=dict(args.tags),
            opts=child,
        )
        logs = aws.cloudwatch.LogGroup(
            f"{name}-worker",
            name_prefix=f"/llm-serving/{args.name_prefix}worker-",
            retention_in_days=args.log_retention_days,
            tags=dict(args.tags),
            opts=child,
        )
        task_role = aws.iam.Role(
            f"{name}-worker-task",
            assume_role_policy=_policy.assume_role_policy("ecs-tasks.amazonaws.com"),
            description=f"queue worker of {args.model}",
            tags=dict(args.tags),
            opts=child,
        )
        _policy.role_policies(f"{name}-worker", task_role, args.task_policies, child)
        execution_role = aws.iam.Role(
            f"{name}-worker-execution",
            assume_role_policy=_policy.assume_role_policy("ecs-tasks.amazonaws.com"),
            description=f"ECS starting the queue worker of {args.model}",
            tags=dict(args.tags),
            opts=child,
        )
        statements = [
            _policy.allow(
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [logs.arn.apply(lambda a: f"{a}:log-stream:*")],
                sid="WriteOwnLogs",
            )
        ]
        statements += _ecr.pull_statements((args.worker_image,), sid="PullImage")
        aws.iam.RolePolicy(
            f"{name}-worker-start", role=execution_role.id, policy=_policy.document(*statements), opts=child
        )
        sg = aws.ec2.SecurityGroup(
            f"{name}-worker",
            vpc_id=args.vpc_id,
            description=f"queue worker of {args.model}: no ingress",
            egress=https_egress("AWS APIs: SQS, S3, SageMaker, CloudWatch Logs, ECR"),
            tags=dict(args.tags),
            opts=child,
        )
        environment = pulumi.Output.all(
            **{**dict(args.environment), "AWS_REGION": region, "WORKER_DRAIN_SECONDS": str(args.drain_seconds)}
        )
        containers = pulumi.Output.all(region, logs.name, environment).apply(
            lambda v: json.dumps(
                [
                    {
                        "name": "worker",
                        "image": args.worker_image,
                        "essential": True,
                        "environment": [{"name": k, "value": str(val)} for k, val in sorted(v[2].items())],
                        "stopTimeout": FARGATE_MAX_STOP_TIMEOUT_SECONDS,
                        "readonlyRootFilesystem": True,
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": v[1],
                                "awslogs-region": v[0],
                                "awslogs-stream-prefix": "worker",
                            },
                        },
                    }
                ]
            )
        )
        task = aws.ecs.TaskDefinition(
            f"{name}-worker",
            family=f"{args.name_prefix}worker",
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(CPU_UNITS),
            memory=str(MEMORY_MIB),
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            task_role_arn=task_role.arn,
            execution_role_arn=execution_role.arn,
            container_definitions=containers,
            tags=dict(args.tags),
            opts=child,
        )
        service = aws.ecs.Service(
            f"{name}-worker",
            cluster=cluster.arn,
            task_definition=task.arn,
            desired_count=args.tasks,
            launch_type="FARGATE",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids, security_groups=[sg.id], assign_public_ip=False
            ),
            # A new worker version starts before the old one stops, and a version whose tasks
            # keep failing is rolled back.
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            propagate_tags="SERVICE",
            tags=dict(args.tags),
            opts=child,
        )
        self.service_name = service.name
        self.cluster_name = cluster.name
        self.task_role_arn = task_role.arn
        self.register_outputs({"service_name": self.service_name, "cluster_name": self.cluster_name})
