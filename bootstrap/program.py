"""CI access for llm-serving in one AWS account, set up once by an administrator.

Creates:
- the Pulumi state bucket (versioned, SSE-KMS with its own key, TLS only, no public access)
  for a self-managed backend, ``pulumi login s3://<bucket>``;
- per environment, the KMS key of its Pulumi secrets (``awskms://alias/llm-serving-<env>-secrets``),
  so one environment's CI cannot decrypt another's secrets;
- GitHub's OIDC provider (one per account and URL: pass ``existingOidcProviderArn`` if the
  account has it);
- per environment, two roles that only GitHub Actions jobs of one repository can assume,
  by OIDC, and only from one GitHub environment each:
  ``llm-serving-ci-preview-<env>`` (read only, for pull-request previews and drift checks;
  GitHub environment ``<env>-preview``) and ``llm-serving-ci-deploy-<env>`` (``pulumi up``;
  GitHub environment ``<env>``).

Separate from the stacks it serves: a stack cannot create the role it is deployed with, and
one account has one OIDC provider for all its stacks. See docs/cicd.md.
"""

from __future__ import annotations

import functools
import json
import operator
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from bootstrap import permissions
from components import _policy

NAMESPACE = "llm-serving-bootstrap"
PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The llm-serving project, whose stack files say each environment's region."""
GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
"""The audience aws-actions/configure-aws-credentials asks GitHub for (its default)."""
DEPLOY_SESSION_SECONDS = 14400
"""Longest deploy session: pulumi up, a rollout of up to an hour, smoke test, a rollback.
The deploy workflow asks for this (role-duration-seconds); IAM allows up to 43200."""
NONCURRENT_STATE_DAYS = 90
"""Old versions of state files kept for recovery."""


class BootstrapConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False)

    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="OWNER/REPO on GitHub.")
    owner_id: int | None = Field(None, ge=1, description="Immutable id of the owner, for immutable OIDC subjects.")
    repository_id: int | None = Field(None, ge=1, description="Immutable id of the repository.")
    environments: list[str] = Field(min_length=1, description="The project's stacks deployed into this account.")
    existing_oidc_provider_arn: str | None = None

    @model_validator(mode="after")
    def _ids_together(self) -> BootstrapConfig:
        if (self.owner_id is None) != (self.repository_id is None):
            raise ValueError("ownerId and repositoryId: set both (immutable subjects) or neither")
        return self

    @property
    def subject_repository(self) -> str:
        """``repo:`` part of the OIDC subject: ``OWNER/REPO``, or ``OWNER@ID/REPO@ID``."""
        owner, repo = self.repository.split("/")
        if self.owner_id is None:
            return self.repository
        return f"{owner}@{self.owner_id}/{repo}@{self.repository_id}"

    def subject(self, github_environment: str) -> str:
        """The ``sub`` claim of a job that names ``github_environment`` (GitHub docs, OIDC
        reference: a job with an environment gets ``repo:ORG/REPO:environment:NAME``)."""
        return f"repo:{self.subject_repository}:environment:{github_environment}"


def load_config() -> BootstrapConfig:
    config = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    for key in ("repository", "ownerId", "repositoryId", "environments", "existingOidcProviderArn"):
        value = config.get_object(key) if key in ("ownerId", "repositoryId", "environments") else config.get(key)
        if value is not None:
            raw[key] = value
    try:
        return BootstrapConfig.model_validate(raw)
    except ValidationError as e:
        lines = [f"{NAMESPACE}:{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise pulumi.RunError("\n".join(lines)) from None


def stack_region(stack: str, project_dir: Path = PROJECT_DIR) -> str:
    """``aws:region`` of the project's ``Pulumi.<stack>.yaml``: one source for it."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise pulumi.RunError(f"{NAMESPACE}:environments: no stack file {path.name} in {project_dir}")
    region = (yaml.safe_load(path.read_text()).get("config") or {}).get("aws:region")
    if not isinstance(region, str):
        raise pulumi.RunError(f"{path.name} sets no aws:region")
    return region


def _trust(provider_arn: pulumi.Input[str], subject: str) -> pulumi.Output[str]:
    """Only GitHub's OIDC tokens, for AWS, from one repository and environment."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "GitHubActionsEnvironment",
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            "token.actions.githubusercontent.com:aud": AUDIENCE,
                            "token.actions.githubusercontent.com:sub": subject,
                        }
                    },
                }
            ],
        }
    )


def _document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


POLICY_LIMIT = 6144
"""A managed policy holds at most 6,144 characters, whitespace not counted (IAM quotas)."""
PARTS = 3
"""Managed policies per role: the statements split in three keep each under the limit (tested;
IAM attaches up to 10 managed policies to a role by default)."""


def split(statements: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``PARTS`` groups of whole statements, about equal in size, in order."""
    sizes = [len(json.dumps(s, separators=(",", ":"))) for s in statements]
    total, running = sum(sizes), 0
    parts: list[list[dict[str, Any]]] = [[] for _ in range(PARTS)]
    for statement, size in zip(statements, sizes, strict=True):
        index = min(PARTS - 1, running * PARTS // max(total, 1))
        parts[index].append(statement)
        running += size
    return parts


def _state_statements(
    *, write: bool, bucket_arn: str, state_key_arn: str, secrets_key_arn: str, stack: str, project: str
) -> list[dict[str, Any]]:
    """The Pulumi state of one stack in the bucket (layout: pulumi/docs, "DIY backend":
    ``.pulumi/meta.yaml``, ``.pulumi/stacks/<project>/<stack>.json``, ``locks/``,
    ``history/``, ``backups/``), its key, and the stack's secrets key."""
    own = [
        f"{bucket_arn}/.pulumi/meta.yaml",
        f"{bucket_arn}/.pulumi/stacks/{project}/{stack}.json*",
    ]
    writable = [
        f"{bucket_arn}/.pulumi/stacks/{project}/{stack}.json*",
        f"{bucket_arn}/.pulumi/locks/{project}/{stack}/*",
        f"{bucket_arn}/.pulumi/history/{project}/{stack}/*",
        f"{bucket_arn}/.pulumi/backups/{project}/{stack}/*",
    ]
    statements: list[dict[str, Any]] = [
        {"Sid": "ListState", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
        {
            "Sid": "ReadState",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": own + (writable if write else []),
        },
        {
            "Sid": "StateAndSecretsKeys",
            "Effect": "Allow",
            "Action": sorted(
                ["kms:Decrypt", "kms:DescribeKey"] + (["kms:Encrypt", "kms:GenerateDataKey"] if write else [])
            ),
            "Resource": [state_key_arn, secrets_key_arn],
        },
    ]
    if write:
        statements.append(
            {
                "Sid": "WriteState",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:PutObject"],
                "Resource": writable,
            }
        )
    return statements


def role_documents(
    account: str,
    bucket_arn: str,
    state_key_arn: str,
    secrets_key_arn: str,
    *,
    write: bool,
    stack: str,
    region: str,
    project: str = "llm-serving",
) -> list[str]:
    """The managed policy documents of one role: its stack's state and keys, then what it
    may do in AWS (bootstrap/permissions.py), split to fit IAM's size limit."""
    statements = _state_statements(
        write=write,
        bucket_arn=bucket_arn,
        state_key_arn=state_key_arn,
        secrets_key_arn=secrets_key_arn,
        stack=stack,
        project=project,
    ) + permissions.statements(
        write=write,
        region=region,
        account=account,
        stack=stack,
        protected_arns=[
            f"arn:aws:iam::{account}:role/llm-serving-ci-*",
            bucket_arn,
            f"{bucket_arn}/*",
            state_key_arn,
            secrets_key_arn,
        ],
    )
    return [_document(part) for part in split(statements)]


def _role_documents(args: list[str], **kwargs: Any) -> list[str]:
    return role_documents(*args, **kwargs)


def main() -> None:
    config = load_config()
    project = "llm-serving"
    account = aws.get_caller_identity_output().account_id
    region = aws.get_region_output().region

    state_key = aws.kms.Key(
        "state-key",
        description="Pulumi state of llm-serving (S3 bucket encryption)",
        enable_key_rotation=True,
        deletion_window_in_days=30,
    )
    aws.kms.Alias("state-key", name="alias/llm-serving-state", target_key_id=state_key.key_id)
    bucket = aws.s3.Bucket("state", bucket_prefix="llm-serving-state-")
    aws.s3.BucketVersioning(
        "state",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        "state",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=state_key.arn
                ),
                bucket_key_enabled=True,
            )
        ],
    )
    block = aws.s3.BucketPublicAccessBlock(
        "state",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
    )
    aws.s3.BucketOwnershipControls(
        "state", bucket=bucket.id, rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced")
    )
    aws.s3.BucketPolicy(
        "state",
        bucket=bucket.id,
        policy=_policy.document(_policy.deny_insecure_transport([bucket.arn, bucket.arn.apply(lambda a: f"{a}/*")])),
        opts=pulumi.ResourceOptions(depends_on=[block]),
    )
    aws.s3.BucketLifecycleConfiguration(
        "state",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="old-state-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=NONCURRENT_STATE_DAYS
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=1
                ),
            )
        ],
    )

    provider_opts = pulumi.ResourceOptions()
    if config.existing_oidc_provider_arn is not None:
        provider_arn: pulumi.Input[str] = config.existing_oidc_provider_arn
    else:
        provider = aws.iam.OpenIdConnectProvider("github", url=GITHUB_OIDC_URL, client_id_lists=[AUDIENCE])
        # IAM names an OIDC provider by its URL: arn:aws:iam::ACCOUNT:oidc-provider/HOST.
        provider_arn = pulumi.Output.concat(
            "arn:aws:iam::", account, ":oidc-provider/", GITHUB_OIDC_URL.removeprefix("https://")
        )
        provider_opts = pulumi.ResourceOptions(depends_on=[provider])

    roles: dict[str, dict[str, pulumi.Output[str]]] = {}
    for env in config.environments:
        env_region = stack_region(env)
        secrets_key = aws.kms.Key(
            f"{env}-secrets",
            description=f"Pulumi secrets of the llm-serving {env} stack",
            enable_key_rotation=True,
            deletion_window_in_days=30,
        )
        aws.kms.Alias(f"{env}-secrets", name=f"alias/llm-serving-{env}-secrets", target_key_id=secrets_key.key_id)
        roles[env] = {}
        for kind, github_environment, write in (("preview", f"{env}-preview", False), ("deploy", env, True)):
            role = aws.iam.Role(
                f"{env}-{kind}",
                name=f"llm-serving-ci-{kind}-{env}",
                description=f"GitHub Actions: {kind} of the llm-serving {env} stack ({config.repository})",
                assume_role_policy=_trust(provider_arn, config.subject(github_environment)),
                max_session_duration=DEPLOY_SESSION_SECONDS if write else 3600,
                opts=provider_opts,
            )
            documents = pulumi.Output.all(account, bucket.arn, state_key.arn, secrets_key.arn).apply(
                functools.partial(_role_documents, write=write, stack=env, region=env_region, project=project)
            )
            for i in range(PARTS):
                policy = aws.iam.Policy(
                    f"{env}-{kind}-{i}",
                    description=f"llm-serving CI {kind} of {env}, part {i + 1}",
                    policy=documents.apply(operator.itemgetter(i)),
                )
                aws.iam.RolePolicyAttachment(f"{env}-{kind}-{i}", role=role.name, policy_arn=policy.arn)
            roles[env][kind] = role.arn
    pulumi.export("stateBackendUrl", pulumi.Output.concat("s3://", bucket.bucket, "?region=", region))
    pulumi.export("oidcProviderArn", provider_arn)
    pulumi.export("roles", roles)
    pulumi.export(
        "secretsProviders",
        {env: f"awskms://alias/llm-serving-{env}-secrets?region={stack_region(env)}" for env in config.environments},
    )
