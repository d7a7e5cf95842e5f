"""The weights staging task: a CodeBuild project that runs the stager inside AWS.

For models too large to copy through a laptop or a CI runner: ``llm-serving weights stage
STACK --in-aws`` starts a build with the model's id and revision, and streams its logs back.
The build runs ``python -m model_server.weights stage`` from the worker image (the same code
the local command runs) and writes into the weights bucket.

Creates: the CodeBuild project, its service role with one policy per need (write the weights
bucket, pull the worker image from ECR, write its own log group, read the Hugging Face token
secret when there is one), and the log group.
Defaults: BUILD_GENERAL1_LARGE (8 vCPUs, 16 GiB, 128 GB of disk: room for several weight
shards in flight; the stager never needs the whole model on disk), builds time out after
8 hours, logs kept 30 days. No VPC configuration: the build reaches the Hub from CodeBuild's
own network, so a stack without NAT gateways can stage too (docs/reference.md#codebuild).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import _ecr, _policy
from model_server.weights import layout

COMPUTE_TYPES = ("BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE", "BUILD_GENERAL1_XLARGE", "BUILD_GENERAL1_2XLARGE")
"""On-demand Linux container types with the disk a copy needs (SMALL has 64 GB); their vCPUs,
memory and disk: docs/reference.md#codebuild."""
DEFAULT_COMPUTE_TYPE = "BUILD_GENERAL1_LARGE"
"""8 vCPUs hash and upload several shards at once; 128 GB of disk holds them with room to
spare (a 5 GB shard is the usual size)."""
DEFAULT_TIMEOUT_MINUTES = 480
"""8 hours: a 140 GB model takes about 25 minutes at the Hub's usual 100 MB/s; this covers a
Hub ten times slower. CodeBuild allows 5 to 2160 minutes; a build is billed only while it runs."""
TIMEOUT_RANGE_MINUTES = (5, 2160)
"""CodeBuild's ``timeoutInMinutes`` range (docs/reference.md#codebuild)."""
QUEUED_TIMEOUT_MINUTES = 60
"""A build waiting an hour for capacity fails visibly instead of waiting CodeBuild's 8 hours."""
STAGER_COMMAND = (
    '/opt/venv/bin/python -m model_server.weights stage --bucket "$WEIGHTS_BUCKET" --model-id "$MODEL_ID" '
    '--revision "$REVISION" --parallel-files "$PARALLEL_FILES" ${WEIGHTS_PREFIX:+--prefix "$WEIGHTS_PREFIX"}'
)
"""The build's one command. CodeBuild replaces the image's ENTRYPOINT with its own agent
(aws/aws-codebuild-docker-images#254), so the interpreter is named by its path."""
PROJECT_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{1,254}"
"""CodeBuild's project names (docs/reference.md#codebuild); the CloudFormation schema has no
pattern for them, so the component checks."""


def build_variables(model_id: str, revision: str, prefix: str | None = None) -> list[dict[str, str]]:
    """What each build sets, StartBuild's ``environmentVariablesOverride``: the model and its
    revision (and a key prefix other than ``<modelId>/<revision>/``); the project fixes the rest."""
    values = {"MODEL_ID": model_id, "REVISION": revision, **({"WEIGHTS_PREFIX": prefix} if prefix else {})}
    return [{"name": name, "value": value, "type": "PLAINTEXT"} for name, value in values.items()]


@dataclass(frozen=True, kw_only=True)
class WeightsStagingArgs:
    name_prefix: str
    """Prefix of the project's and the log group's names (``llm-<stack>-``)."""
    worker_image: str
    """The worker image (built from ``model_server/Dockerfile``), in Amazon ECR with a tag or
    digest: CodeBuild pulls it with the service role's rights."""
    bucket_name: pulumi.Input[str]
    """The weights bucket (``WeightsBucket.bucket_name``)."""
    bucket_write_policy_json: pulumi.Input[str]
    """The stager's rights on the bucket (``WeightsBucket.write_policy_json()``)."""
    token_secret_arn: pulumi.Input[str] | None = None
    """Secrets Manager secret holding the Hugging Face token, given to the stager as
    ``HF_TOKEN``. Pass it only when the secret holds a value: CodeBuild fails a build whose
    secret cannot be read. None: public models only, and the role reads no secret."""
    compute_type: str = DEFAULT_COMPUTE_TYPE
    """CodeBuild compute type (default and why: ``DEFAULT_COMPUTE_TYPE``)."""
    timeout_minutes: int = DEFAULT_TIMEOUT_MINUTES
    """A build still running after this is stopped (default and why: ``DEFAULT_TIMEOUT_MINUTES``)."""
    parallel_files: int = layout.DEFAULT_PARALLEL_FILES
    """Files in flight at once (the stager's ``--parallel-files``)."""
    log_retention_days: int = 30
    """How long the build logs are kept."""

    @property
    def project_name(self) -> str:
        return f"{self.name_prefix}weights-staging"

    def __post_init__(self) -> None:
        if not re.fullmatch(PROJECT_NAME_PATTERN, self.project_name):
            raise ValueError(
                f"name_prefix {self.name_prefix!r}: the project's name {self.project_name!r} must match "
                f"{PROJECT_NAME_PATTERN} (CodeBuild's rule)"
            )
        if not _ecr.is_ecr_image(self.worker_image):
            raise ValueError(
                f"worker_image {self.worker_image!r}: the staging task pulls from Amazon ECR with its role "
                "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>)"
            )
        if self.compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute_type must be one of {', '.join(COMPUTE_TYPES)}")
        low, high = TIMEOUT_RANGE_MINUTES
        if not low <= self.timeout_minutes <= high:
            raise ValueError(f"timeout_minutes must be {low} to {high} (CodeBuild's range)")
        if self.parallel_files < 1:
            raise ValueError("parallel_files must be at least 1")


def buildspec() -> str:
    """The build's buildspec: run the stager once; its exit code is the build's status."""
    return json.dumps({"version": "0.2", "phases": {"build": {"commands": [STAGER_COMMAND]}}}, indent=2)


class WeightsStaging(pulumi.ComponentResource):
    project: aws.codebuild.Project
    """Escape hatch: the CodeBuild project."""
    project_name: pulumi.Output[str]
    """What ``llm-serving weights stage --in-aws`` starts (export it as ``weightsStagingProject``)."""
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    start_policy_json: pulumi.Output[str]
    """IAM policy for whoever runs ``weights stage --in-aws`` (a CI role): start and watch this
    project's builds and read their logs, nothing else (export it as ``weightsStagingStartPolicy``)."""

    def __init__(self, name: str, args: WeightsStagingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:WeightsStaging", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name_prefix=f"/llm-serving/{args.name_prefix}weights-staging-",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=_policy.assume_role_policy("codebuild.amazonaws.com"),
            description="Weights staging: copies model revisions from the Hugging Face Hub into the weights bucket",
            opts=child,
        )
        documents: dict[str, pulumi.Input[str]] = {
            "weights": args.bucket_write_policy_json,
            "logs": _policy.document(
                _policy.allow(
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    [log_group.arn.apply(lambda arn: f"{arn}:log-stream:*")],
                    sid="WriteBuildLogs",
                )
            ),
            "image": _policy.document(*_ecr.pull_statements((args.worker_image,), sid="PullWorkerImage")),
        }
        if args.token_secret_arn is not None:
            documents["token"] = _policy.document(
                _policy.allow(["secretsmanager:GetSecretValue"], [args.token_secret_arn], sid="ReadHubToken")
            )
        policies = _policy.role_policies(name, role, documents, child)
        variables = [
            aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=key, value=value, type="PLAINTEXT")
            for key, value in {
                "WEIGHTS_BUCKET": args.bucket_name,
                "PARALLEL_FILES": str(args.parallel_files),
                # MODEL_ID, REVISION and WEIGHTS_PREFIX come with each build (build_variables):
                # a build started without them fails at once, with the stager's usage error.
                # The image's own environment, repeated: the build shell is CodeBuild's.
                "PYTHONPATH": "/opt/app",
                "PYTHONUNBUFFERED": "1",
                "HF_HOME": "/tmp/hf-home",
                "HF_HUB_DISABLE_TELEMETRY": "1",
                # No Xet chunk cache on the build's disk: every byte is read once, and the disk
                # budget is the stager's (hf_xet reads this variable; docs/reference.md#hugging-face-hub).
                "HF_XET_CHUNK_CACHE_SIZE_BYTES": "0",
            }.items()
        ]
        if args.token_secret_arn is not None:
            variables.append(
                aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(
                    name="HF_TOKEN", value=args.token_secret_arn, type="SECRETS_MANAGER"
                )
            )
        self.project = aws.codebuild.Project(
            f"{name}-project",
            # Named for the stack so the deploy role's rights can be scoped to it
            # (bootstrap/permissions.py); 2 to 255 of [A-Za-z0-9_-], which stack names satisfy.
            name=args.project_name,
            description="Copies a model revision from the Hugging Face Hub into the weights bucket "
            "(llm-serving weights stage --in-aws)",
            service_role=role.arn,
            build_timeout=args.timeout_minutes,
            queued_timeout=QUEUED_TIMEOUT_MINUTES,
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            source=aws.codebuild.ProjectSourceArgs(type="NO_SOURCE", buildspec=buildspec()),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type="LINUX_CONTAINER",
                compute_type=args.compute_type,
                image=args.worker_image,
                image_pull_credentials_type="SERVICE_ROLE",
                environment_variables=variables,
            ),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    status="ENABLED", group_name=log_group.name
                ),
                s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            # The role must hold its rights before the first build pulls the image.
            opts=pulumi.ResourceOptions(parent=self, depends_on=policies),
        )
        self.project_name = self.project.name
        self.project_arn = self.project.arn
        self.role_arn = role.arn
        self.log_group_name = log_group.name
        self.start_policy_json = _policy.document(
            _policy.allow(["codebuild:BatchGetBuilds", "codebuild:StartBuild"], [self.project.arn], sid="RunStaging"),
            _policy.allow(
                ["logs:GetLogEvents"],
                [log_group.arn.apply(lambda arn: f"{arn}:log-stream:*")],
                sid="ReadStagingLogs",
            ),
        )
        self.register_outputs(
            {
                "project_name": self.project_name,
                "project_arn": self.project_arn,
                "role_arn": self.role_arn,
                "log_group_name": self.log_group_name,
                "start_policy_json": self.start_policy_json,
            }
        )
