"""WeightsStaging: a CodeBuild project running the stager from the worker image, with a role
that may do exactly what a copy needs."""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import pulumi
import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from components.weights_bucket import WeightsBucket, WeightsBucketArgs
from components.weights_staging import STAGER_COMMAND, WeightsStaging, WeightsStagingArgs, build_variables
from infra.plan import Plan, run_program
from infra.policies import evaluate

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources
    import parliament

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-serving-worker:0.1.0"
TOKEN_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:llm-dev-hf-token-AbCdEf"


def plan_staging(**overrides: Any) -> tuple[Plan, dict[str, str]]:
    captured: dict[str, str] = {}

    def program() -> None:
        bucket = WeightsBucket("weights", WeightsBucketArgs())
        args = {
            "name_prefix": "llm-dev-",
            "worker_image": IMAGE,
            "bucket_name": bucket.bucket_name,
            "bucket_write_policy_json": bucket.write_policy_json(),
            **overrides,
        }
        staging = WeightsStaging("weights", WeightsStagingArgs(**args))
        bucket.bucket_arn.apply(lambda v: captured.__setitem__("bucket_arn", v))
        staging.start_policy_json.apply(lambda v: captured.__setitem__("start", v))
        staging.project_arn.apply(lambda v: captured.__setitem__("project_arn", v))
        pulumi.export("weightsStagingProject", staging.project_name)

    return run_program(program), captured


def project(plan: Plan) -> Any:
    return plan.named("aws:codebuild/project:Project", "weights-project")


def role_policies(plan: Plan) -> dict[str, dict[str, Any]]:
    return {
        p.name.removeprefix("weights-"): json.loads(p.input("policy"))
        for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")
    }


def environment_variables(plan: Plan) -> dict[str, tuple[str, str]]:
    return {v["name"]: (v["value"], v["type"]) for v in project(plan).input("environment")["environmentVariables"]}


def test_the_build_runs_the_stager_from_the_worker_image_pulled_with_the_role() -> None:
    plan, _ = plan_staging()
    environment = project(plan).input("environment")
    assert environment["image"] == IMAGE
    assert environment["imagePullCredentialsType"] == "SERVICE_ROLE"
    assert environment["type"] == "LINUX_CONTAINER"
    assert json.loads(project(plan).input("source")["buildspec"])["phases"]["build"]["commands"] == [STAGER_COMMAND]
    assert STAGER_COMMAND.startswith('/opt/venv/bin/python -m model_server.weights stage --bucket "$WEIGHTS_BUCKET"')


def test_every_variable_the_command_reads_is_set_by_the_project_or_by_each_build() -> None:
    plan, _ = plan_staging()
    read = set(re.findall(r"\$\{?([A-Z_]+)", STAGER_COMMAND))
    per_build = {v["name"] for v in build_variables("org/m", "a" * 40, "x/")}
    assert read <= set(environment_variables(plan)) | per_build
    assert {v["name"] for v in build_variables("org/m", "a" * 40)} == {"MODEL_ID", "REVISION"}


def test_the_project_is_named_for_the_stack_so_the_deploy_role_can_be_scoped_to_it() -> None:
    plan, _ = plan_staging()
    assert project(plan).input("name") == "llm-dev-weights-staging"


def test_the_project_has_no_vpc_so_the_build_reaches_the_hub() -> None:
    plan, _ = plan_staging()
    assert project(plan).input("vpcConfig") is None


def test_large_compute_and_an_eight_hour_timeout_by_default() -> None:
    plan, _ = plan_staging()
    assert project(plan).input("environment")["computeType"] == "BUILD_GENERAL1_LARGE"
    assert project(plan).input("buildTimeout") == 480
    assert project(plan).input("queuedTimeout") == 60


def test_timeouts_are_within_codebuilds_ranges() -> None:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", "AWS::CodeBuild::Project").schema["properties"]
    plan, _ = plan_staging(timeout_minutes=2160)
    for key, prop in (("buildTimeout", "TimeoutInMinutes"), ("queuedTimeout", "QueuedTimeoutInMinutes")):
        assert schema[prop]["minimum"] <= project(plan).input(key) <= schema[prop]["maximum"]


def test_the_bucket_and_settings_are_fixed_and_each_build_brings_the_model() -> None:
    plan, _ = plan_staging(parallel_files=6)
    variables = environment_variables(plan)
    assert variables["PARALLEL_FILES"] == ("6", "PLAINTEXT")
    assert variables["WEIGHTS_BUCKET"][1] == "PLAINTEXT"
    assert variables["HF_HUB_DISABLE_TELEMETRY"] == ("1", "PLAINTEXT")
    assert variables["HF_XET_CHUNK_CACHE_SIZE_BYTES"] == ("0", "PLAINTEXT")
    assert not {"MODEL_ID", "REVISION", "WEIGHTS_PREFIX", "HF_TOKEN"} & set(variables)


def test_logs_go_to_the_components_log_group_with_retention() -> None:
    plan, _ = plan_staging(log_retention_days=14)
    [group] = plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert group.input("retentionInDays") == 14
    assert group.input("namePrefix") == "/llm-serving/llm-dev-weights-staging-"
    logs = project(plan).input("logsConfig")
    assert logs["cloudwatchLogs"] == {"status": "ENABLED", "groupName": group.outputs["name"]}
    assert logs["s3Logs"] == {"status": "DISABLED"}


def test_the_token_is_a_secrets_manager_variable_and_the_role_reads_that_secret_only() -> None:
    plan, _ = plan_staging(token_secret_arn=TOKEN_ARN)
    assert environment_variables(plan)["HF_TOKEN"] == (TOKEN_ARN, "SECRETS_MANAGER")
    [statement] = role_policies(plan)["token"]["Statement"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
    assert statement["Resource"] == [TOKEN_ARN]


def test_without_a_token_the_role_reads_no_secret() -> None:
    plan, _ = plan_staging()
    assert set(role_policies(plan)) == {"weights", "logs", "image"}
    assert "secretsmanager" not in json.dumps(role_policies(plan))


def test_the_role_writes_the_weights_bucket_only() -> None:
    plan, captured = plan_staging()
    statements = role_policies(plan)["weights"]["Statement"]
    resources = {r for s in statements for r in s["Resource"]}
    assert resources == {captured["bucket_arn"], captured["bucket_arn"] + "/*"}
    actions = {a for s in statements for a in s["Action"]}
    assert "s3:PutObject" in actions
    assert "s3:DeleteObject" not in actions


def test_the_role_pulls_the_worker_images_repository_only() -> None:
    plan, _ = plan_staging()
    login, pull = role_policies(plan)["image"]["Statement"]
    assert (login["Action"], login["Resource"]) == (["ecr:GetAuthorizationToken"], ["*"])
    assert pull["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/llm-serving-worker"]
    assert pull["Action"] == ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def test_the_role_writes_its_own_log_group_only() -> None:
    plan, _ = plan_staging()
    [group] = plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    [statement] = role_policies(plan)["logs"]["Statement"]
    assert statement["Resource"] == [group.outputs["arn"] + ":log-stream:*"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_only_codebuild_may_assume_the_role() -> None:
    plan, _ = plan_staging()
    [role] = plan.of_type("aws:iam/role:Role")
    [statement] = json.loads(role.input("assumeRolePolicy"))["Statement"]
    assert statement["Principal"] == {"Service": "codebuild.amazonaws.com"}


def test_the_project_waits_for_the_roles_policies() -> None:
    plan, _ = plan_staging(token_secret_arn=TOKEN_ARN)
    policies = {p.urn for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert len(policies) == 4
    assert policies <= set(project(plan).dependencies)


def test_start_policy_runs_and_watches_this_project_only(request: pytest.FixtureRequest) -> None:
    plan, captured = plan_staging()
    run, logs = json.loads(captured["start"])["Statement"]
    assert (run["Action"], run["Resource"]) == (
        ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
        [captured["project_arn"]],
    )
    [group] = plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert logs["Resource"] == [group.outputs["arn"] + ":log-stream:*"]


def test_every_policy_passes_parliament_and_the_policy_rules() -> None:
    plan, captured = plan_staging(token_secret_arn=TOKEN_ARN)
    documents = [p.input("policy") for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")] + [captured["start"]]
    findings = {
        text: [
            (f.issue, f.detail) for f in parliament.analyze_policy_string(text, ignore_private_auditors=True).findings
        ]
        for text in documents
    }
    assert {t: f for t, f in findings.items() if f} == {}
    assert [f for f in evaluate(plan.resources) if f["level"] == "mandatory"] == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"worker_image": "ghcr.io/acme/worker:1.0"}, "pulls from Amazon ECR"),
        ({"worker_image": IMAGE.rsplit(":", 1)[0]}, "pulls from Amazon ECR"),
        ({"timeout_minutes": 2161}, "5 to 2160"),
        ({"compute_type": "BUILD_GENERAL1_SMALL"}, "compute_type must be one of"),
        ({"parallel_files": 0}, "at least 1"),
        ({"name_prefix": "llm.dev-"}, "must match"),
        ({"name_prefix": "-llm-"}, "must match"),
        ({"name_prefix": "x" * 241}, "must match"),
    ],
)
def test_rejects_args_codebuild_or_the_copy_cannot_use(overrides: dict[str, Any], message: str) -> None:
    args = {"name_prefix": "llm-dev-", "worker_image": IMAGE, "bucket_name": "b", "bucket_write_policy_json": "{}"}
    with pytest.raises(ValueError, match=message):
        WeightsStagingArgs(**{**args, **overrides})
