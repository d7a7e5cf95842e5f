"""bootstrap/: the CI access program under the offline plan's mocks. Roles only the named
repository's environment can assume, a guarded state bucket, policies that lint clean with
parliament, fit IAM's size limit, and cover every resource type the project declares."""

from __future__ import annotations

import fnmatch
import json
import re
import warnings
from typing import Any

import pulumi
import pytest
import yaml

from bootstrap import permissions
from bootstrap.program import DEPLOY_SESSION_SECONDS, POLICY_LIMIT, main
from infra.plan import Plan, PlannedResource, run_program
from tests.helpers import ROOT

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources
    import parliament

NS = "llm-serving-bootstrap"


def bootstrap(**config: Any) -> Plan:
    values = {
        "aws:region": "us-east-1",
        f"{NS}:repository": "acme/llm-serving",
        f"{NS}:environments": '["dev", "prod"]',
    }
    values.update({f"{NS}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    return run_program(main, project="llm-serving-bootstrap", stack="account", config=values)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return bootstrap()


def trust(role: PlannedResource) -> dict[str, Any]:
    [statement] = json.loads(role.input("assumeRolePolicy"))["Statement"]
    return dict(statement)


def test_each_environment_gets_a_preview_and_a_deploy_role_named_for_it(plan: Plan) -> None:
    names = sorted(r.input("name") for r in plan.of_type("aws:iam/role:Role"))
    assert names == sorted(f"llm-serving-ci-{kind}-{env}" for env in ("dev", "prod") for kind in ("deploy", "preview"))


@pytest.mark.parametrize(
    ("role", "environment"),
    [("dev-deploy", "dev"), ("dev-preview", "dev-preview"), ("prod-deploy", "prod"), ("prod-preview", "prod-preview")],
)
def test_a_role_trusts_only_the_repository_in_one_github_environment(plan: Plan, role: str, environment: str) -> None:
    statement = trust(plan.named("aws:iam/role:Role", role))
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    assert statement["Principal"] == {"Federated": provider}
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": f"repo:acme/llm-serving:environment:{environment}",
        }
    }


def test_immutable_ids_go_into_the_subject() -> None:
    plan = bootstrap(ownerId=123456, repositoryId=456789)
    statement = trust(plan.named("aws:iam/role:Role", "prod-deploy"))
    sub = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert sub == "repo:acme@123456/llm-serving@456789:environment:prod"


def test_owner_id_without_repository_id_is_refused() -> None:
    with pytest.raises(pulumi.RunError, match="ownerId and repositoryId: set both"):
        bootstrap(ownerId=123456)


def test_github_oidc_provider_for_sts_or_the_existing_one(plan: Plan) -> None:
    provider = plan.named("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "github")
    assert provider.input("url") == "https://token.actions.githubusercontent.com"
    assert provider.input("clientIdLists") == ["sts.amazonaws.com"]

    existing = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    reused = bootstrap(existingOidcProviderArn=existing)
    assert reused.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    assert trust(reused.named("aws:iam/role:Role", "dev-deploy"))["Principal"] == {"Federated": existing}


def test_state_bucket_is_versioned_encrypted_with_its_key_private_and_tls_only(plan: Plan) -> None:
    key = plan.named("aws:kms/key:Key", "state-key")
    assert key.input("enableKeyRotation") is True
    versioning = plan.named("aws:s3/bucketVersioning:BucketVersioning", "state")
    assert versioning.input("versioningConfiguration") == {"status": "Enabled"}
    [rule] = plan.named(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "state"
    ).input("rules")
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key.outputs["arn"],
    }
    block = plan.named("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "state")
    assert all(
        block.input(k) is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    [deny] = json.loads(plan.named("aws:s3/bucketPolicy:BucketPolicy", "state").input("policy"))["Statement"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_each_environment_has_its_own_secrets_key_with_the_alias_stack_files_name(plan: Plan) -> None:
    aliases = sorted(a.input("name") for a in plan.of_type("aws:kms/alias:Alias"))
    assert aliases == ["alias/llm-serving-dev-secrets", "alias/llm-serving-prod-secrets", "alias/llm-serving-state"]
    assert plan.outputs["secretsProviders"] == {
        "dev": "awskms://alias/llm-serving-dev-secrets?region=us-east-1",
        "prod": "awskms://alias/llm-serving-prod-secrets?region=us-east-1",
    }


def policies(plan: Plan, role: str) -> list[dict[str, Any]]:
    return [json.loads(p.input("policy")) for p in plan.of_type("aws:iam/policy:Policy") if p.name.startswith(role)]


def statements(plan: Plan, role: str) -> list[dict[str, Any]]:
    return [s for doc in policies(plan, role) for s in doc["Statement"]]


# parliament lints identity policies; what it reports here that is expected, and why:
ALLOWED = {
    # Trust policies have no Resource element by design.
    ("assumeRolePolicy", "MALFORMED"),
    # parliament knows SAML, Cognito and a few web identity providers, not GitHub's OIDC
    # issuer; the trust statement is checked exactly by the tests above.
    ("assumeRolePolicy", "UNKNOWN_FEDERATION_SOURCE"),
    # The deploy role manages the program's bucket policies (results, access logs), which
    # could grant it object access: inherent in deploying them; no other bucket is in reach.
    ("deploy", "RESOURCE_POLICY_PRIVILEGE_ESCALATION"),
}


def lint(text: str) -> list[tuple[str, Any]]:
    return [(f.issue, f.detail) for f in parliament.analyze_policy_string(text, ignore_private_auditors=True).findings]


def test_every_policy_document_lints_clean_with_parliament(plan: Plan) -> None:
    problems = {}
    linted = 0
    for r in plan.resources:
        for key in ("policy", "assumeRolePolicy"):
            text = r.input(key)
            if isinstance(text, str) and '"Statement"' in text:
                linted += 1
                kind = "deploy" if "deploy" in r.name else key
                found = [(i, d) for i, d in lint(text) if (kind, i) not in ALLOWED and (key, i) not in ALLOWED]
                if found:
                    problems[f"{r.name} {key}"] = found
    assert linted >= 12  # 8 role policies, 4 trust policies, the state bucket's
    assert problems == {}


def test_each_policy_fits_iam_managed_policy_limit(plan: Plan) -> None:
    documents = [p.input("policy") for p in plan.of_type("aws:iam/policy:Policy")]
    assert len(documents) == 12  # 2 environments x 2 roles x 3 parts
    assert max(len(re.sub(r"\s", "", d)) for d in documents) <= POLICY_LIMIT


def test_the_preview_role_only_reads(plan: Plan) -> None:
    actions = {a for s in statements(plan, "dev-preview") if s["Effect"] == "Allow" for a in s["Action"]}
    assert actions
    verbs = {a.split(":")[1] for a in actions}
    writes = sorted(v for v in verbs if not v.startswith(("BatchGet", "Describe", "Get", "List", "Decrypt")))
    assert writes == []
    assert "s3:PutObject" not in actions and "kms:Encrypt" not in actions


def test_the_deploy_role_cannot_touch_the_ci_roles_or_the_bootstrap(plan: Plan) -> None:
    [deny] = [s for s in statements(plan, "dev-deploy") if s["Effect"] == "Deny"]
    assert deny["Action"] == ["iam:*", "kms:*", "s3:*"]
    assert "arn:aws:iam::123456789012:role/llm-serving-ci-*" in deny["Resource"]
    bucket = plan.named("aws:s3/bucket:Bucket", "state").outputs["arn"]
    assert {bucket, f"{bucket}/*", plan.named("aws:kms/key:Key", "state-key").outputs["arn"]} <= set(deny["Resource"])


def test_a_role_reaches_only_its_own_stack_state_and_secrets_key(plan: Plan) -> None:
    [read] = [s for s in statements(plan, "dev-preview") if s.get("Sid") == "ReadState"]
    assert all("/prod" not in r for r in read["Resource"])
    assert any(r.endswith(".pulumi/stacks/llm-serving/dev.json*") for r in read["Resource"])
    [keys] = [s for s in statements(plan, "dev-preview") if s.get("Sid") == "StateAndSecretsKeys"]
    dev_key = plan.named("aws:kms/key:Key", "dev-secrets").outputs["arn"]
    prod_key = plan.named("aws:kms/key:Key", "prod-secrets").outputs["arn"]
    assert dev_key in keys["Resource"] and prod_key not in keys["Resource"]


def test_deploy_sessions_last_as_long_as_the_deploy_workflow_asks() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/deploy-stack.yml").read_text())
    [setup] = [s for s in workflow["jobs"]["deploy"]["steps"] if s.get("uses") == "./.github/actions/setup"]
    assert int(setup["with"]["role-duration-seconds"]) == DEPLOY_SESSION_SECONDS


# ------------------------------------------------ the permissions cover the project's plans


@pytest.mark.parametrize("stack", ["dev", "prod", "eks_existing", "eks_created"])
def test_every_type_the_program_declares_has_permissions(stack: str, request: pytest.FixtureRequest) -> None:
    project: Plan = request.getfixturevalue(f"{stack}_plan")
    declared = {r.type for r in project.resources if r.custom}
    assert declared - set(permissions.TYPES) == set()
    assert set(permissions.TYPES.values()) <= set(permissions.SERVICES)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_names_the_deploy_role_is_scoped_to_match_the_plan(stack: str, request: pytest.FixtureRequest) -> None:
    project: Plan = request.getfixturevalue(f"{stack}_plan")
    assert project.of_type("aws:s3/bucket:Bucket") and project.of_type("aws:autoscaling/group:Group")
    assert project.of_type("aws:sqs/queue:Queue")
    for bucket in project.of_type("aws:s3/bucket:Bucket"):
        assert any(fnmatch.fnmatch(bucket.outputs["bucket"], p) for p in permissions.BUCKETS), bucket.name
    for group in project.of_type("aws:autoscaling/group:Group"):
        assert group.input("namePrefix").startswith(f"llm-{stack}-")
    [dashboard] = project.of_type("aws:cloudwatch/dashboard:Dashboard")
    assert dashboard.input("dashboardName") == f"llm-serving-{stack}"
    for queue in project.of_type("aws:sqs/queue:Queue"):
        main = "redrivePolicy" in queue.inputs  # a dead-letter queue has none
        assert fnmatch.fnmatch(queue.outputs["name"], permissions.REQUEST_QUEUES) == main, queue.name
    [codebuild] = permissions.SERVICES["codebuild"].resources
    [staging] = project.of_type("aws:codebuild/project:Project")
    arn = f"arn:aws:codebuild:us-east-1:123456789012:project/{staging.input('name')}"
    assert fnmatch.fnmatch(arn, codebuild.format(r="us-east-1", a="123456789012", s=stack))


# ------------------------------------- what the deploy workflow runs besides `pulumi up`


def _matches(pattern: str, value: str) -> bool:
    """IAM's wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one."""
    regex = ".*".join(".".join(map(re.escape, part.split("?"))) for part in pattern.split("*"))
    return re.fullmatch(regex, value) is not None


def _applies(statement: dict[str, Any], action: str, resource: str, region: str) -> bool:
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    # The one condition a call of the smoke test or the rollout wait meets: its region. Any
    # other condition is taken as unmet.
    region_only = {"StringEquals": {"aws:RequestedRegion": region}}
    return (
        any(_matches(a.lower(), action.lower()) for a in actions)
        and any(_matches(r, resource) for r in resources)
        and statement.get("Condition", region_only) == region_only
    )


def allowed(statements: list[dict[str, Any]], action: str, resource: str, region: str = "us-east-1") -> bool:
    """IAM's verdict on one call, as far as these identity policies go: an Allow applies and
    no Deny does."""
    applies = [s for s in statements if _applies(s, action, resource, region)]
    return any(s["Effect"] == "Allow" for s in applies) and not any(s["Effect"] == "Deny" for s in applies)


def test_the_iam_evaluation_of_these_tests() -> None:
    statements = [
        {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["arn:aws:s3:::b-*/results/*"]},
        {"Effect": "Deny", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b-x/results/secret"]},
        {
            "Effect": "Allow",
            "Action": ["autoscaling:Describe*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
        },
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["*"], "Condition": {"Bool": {"x": "true"}}},
    ]
    assert allowed(statements, "s3:GetObject", "arn:aws:s3:::b-1/results/chat/1.json")
    assert not allowed(statements, "s3:GetObject", "arn:aws:s3:::b-1/other/1.json")
    assert not allowed(statements, "s3:GetObject", "arn:aws:s3:::b-x/results/secret")
    assert not allowed(statements, "s3:PutObject", "arn:aws:s3:::b-1/results/chat/1.json")
    assert allowed(statements, "autoscaling:DescribeInstanceRefreshes", "*")
    assert not allowed(statements, "autoscaling:DescribeInstanceRefreshes", "*", region="eu-west-1")
    assert not allowed(statements, "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q")


def targets(outputs: dict[str, Any], region: str, account: str) -> dict[str, list[str]]:
    """The ARNs each kind of target of ``SMOKE_ACTIONS`` and ``ROLLOUT_ACTIONS`` takes in a
    stack, from its outputs: what `smoke` and `rollout wait` are given."""
    from model_server.messages import result_key

    models: dict[str, Any] = outputs["models"]
    bucket = outputs["resultsBucket"]
    return {
        "queue": [f"arn:aws:sqs:{region}:{account}:{m['queueUrl'].rsplit('/', 1)[1]}" for m in models.values()],
        "result": [f"arn:aws:s3:::{bucket}/{result_key(name, 'smoke-20261201T100000-0123abcd')}" for name in models],
        "results-bucket": [f"arn:aws:s3:::{bucket}"],
        "alarm": [f"arn:aws:cloudwatch:{region}:{account}:alarm:{a}" for m in models.values() for a in m["alarmNames"]],
        "endpoint": [
            f"arn:aws:sagemaker:{region}:{account}:endpoint/{m['endpointName']}"
            for m in models.values()
            if "endpointName" in m
        ],
        "*": ["*"],
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_deploy_role_may_run_the_smoke_test_and_wait_for_the_rollout(
    stack: str, plan: Plan, request: pytest.FixtureRequest
) -> None:
    from infra.rollout import ROLLOUT_ACTIONS
    from infra.smoke import SMOKE_ACTIONS

    project: Plan = request.getfixturevalue(f"{stack}_plan")
    arns = targets(project.outputs, "us-east-1", "123456789012")
    assert all(v for k, v in arns.items() if k != "endpoint") and len(arns["alarm"]) > len(arns["queue"])
    assert bool(arns["endpoint"]) == (stack == "prod")  # prod's assist runs on SageMaker
    role = statements(plan, f"{stack}-deploy")
    denied = sorted(
        (action, arn)
        for action, kind in {**SMOKE_ACTIONS, **ROLLOUT_ACTIONS}.items()
        for arn in arns[kind]
        if not allowed(role, action, arn)
    )
    assert denied == []


def test_the_results_prefix_is_the_one_results_are_written_under() -> None:
    from components.results_bucket import RESULTS_PREFIX
    from model_server.messages import result_key

    assert permissions.RESULTS_PREFIX == RESULTS_PREFIX
    assert result_key("chat", "1").startswith(permissions.RESULTS_PREFIX)


def test_the_smoke_test_reaches_no_further_than_it_needs(dev_plan: Plan, plan: Plan) -> None:
    role = statements(plan, "dev-deploy")
    dead_letters = dev_plan.outputs["models"]["chat"]["deadLetterQueueUrl"].rsplit("/", 1)[1]
    assert not allowed(role, "sqs:SendMessage", f"arn:aws:sqs:us-east-1:123456789012:{dead_letters}")
    results, weights = dev_plan.outputs["resultsBucket"], dev_plan.outputs["weightsBucket"]
    assert not allowed(role, "s3:GetObject", f"arn:aws:s3:::{results}/other/x.json")
    assert not allowed(role, "s3:GetObject", f"arn:aws:s3:::{weights}/models/x/config.json")
    assert not allowed(role, "s3:PutObject", f"arn:aws:s3:::{results}/results/chat/x.json")
    preview = statements(plan, "dev-preview")
    assert not allowed(preview, "sqs:SendMessage", targets(dev_plan.outputs, "us-east-1", "123456789012")["queue"][0])
