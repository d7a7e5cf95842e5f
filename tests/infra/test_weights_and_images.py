"""Weights from the stack's bucket and images from ECR, as the plans declare them: no token,
no Hub, no internet for a model whose weights are staged."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from infra.plan import Plan, run_plan

STACKS = Path(__file__).parents[1] / "stacks"
AWS_HOSTS = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")


@pytest.fixture(scope="module")
def isolated_plan() -> Plan:
    return run_plan("isolated", project_dir=STACKS)


def user_data(plan: Plan, model: str) -> str:
    lt = plan.named("aws:ec2/launchTemplate:LaunchTemplate", f"{model}-lt")
    return base64.b64decode(lt.input("userData")).decode()


def role_policies(plan: Plan, model: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {
        p.name: json.loads(p.input("policy"))
        for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name.startswith(f"{model}-")
    }


def hosts(text: str) -> set[str]:
    return set(re.findall(r"(?:https?://|\b)([a-z0-9-]+(?:\.[a-z0-9-]+)+\.(?:com|io|co|cn))\b", text))


@pytest.mark.parametrize("model", ["chat", "summarize"])
def test_staged_models_read_no_token_and_name_no_hub(prod_plan: Plan, model: str) -> None:
    assert prod_plan.outputs["models"][model]["weights"]["source"] == "s3"
    text = user_data(prod_plan, model)
    assert "secretsmanager" not in text and "TOKEN_SECRET_ARN" not in text
    assert "huggingface.co" not in text and "HF_HUB_OFFLINE=1" in text
    assert f"{model}-token" not in role_policies(prod_plan, model)


@pytest.mark.parametrize("model", ["chat", "summarize"])
def test_a_staged_models_role_reads_its_own_prefix_only(prod_plan: Plan, model: str) -> None:
    bucket = prod_plan.named("aws:s3/bucket:Bucket", "weights-bucket").outputs["arn"]
    config = {"chat": ("meta-llama/Llama-3.1-8B-Instruct", "0e9e39f249a16976918f6564b8830bc894c89659"),
              "summarize": ("Qwen/Qwen2.5-7B-Instruct", "a09a35458c702b33eeacc393d103063234e8bc28")}[model]  # fmt: skip
    model_id, revision = config
    prefix = f"{model_id}/{revision}/"  # the layout staged data already has: pinned here
    policies = role_policies(prod_plan, model)
    [read, listing] = policies.pop(f"{model}-weights")["Statement"]
    assert read["Action"] == ["s3:GetObject"] and read["Resource"] == [f"{bucket}/{prefix}*"]
    assert listing["Resource"] == [bucket]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    # No other statement of the role reaches the weights bucket.
    assert bucket not in json.dumps(policies)


@pytest.mark.parametrize("model", ["chat", "summarize"])
def test_the_engine_image_is_awss_in_ecr_and_the_role_may_pull_it(prod_plan: Plan, model: str) -> None:
    image = re.search(r"ENGINE_IMAGE=(\S+)", user_data(prod_plan, model))
    assert image is not None
    registry, repository = image.group(1).split("/", 1)
    assert registry == "763104351884.dkr.ecr.us-east-1.amazonaws.com"
    [pull] = [s for s in role_policies(prod_plan, model)[f"{model}-images"]["Statement"] if s["Sid"] == "PullImages"]
    assert f"arn:aws:ecr:us-east-1:763104351884:repository/{repository.split(':')[0]}" in pull["Resource"]


def test_a_model_from_the_hub_still_reads_the_token(dev_plan: Plan) -> None:
    assert dev_plan.outputs["models"]["chat"]["weights"]["source"] == "hub"
    assert "aws secretsmanager get-secret-value" in user_data(dev_plan, "chat")
    assert "chat-token" in role_policies(dev_plan, "chat")


def test_a_stack_without_nat_plans_with_no_mandatory_finding(isolated_plan: Plan) -> None:
    assert not isolated_plan.of_type("aws:ec2/natGateway:NatGateway")
    assert [f for f in isolated_plan.findings if f["level"] == "mandatory"] == []
    endpoints = {e.input("serviceName") for e in isolated_plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert "com.amazonaws.us-east-1.s3" in endpoints


@pytest.mark.parametrize("model", ["chat", "summarize"])
def test_a_stack_without_nat_needs_no_internet_to_boot(isolated_plan: Plan, model: str) -> None:
    text = user_data(isolated_plan, model)
    named = hosts(text)
    assert named, "the check must see the hosts the user data names"
    assert {h for h in named if not AWS_HOSTS.match(h)} == set()
    assert "secretsmanager" not in text
    images = re.findall(r"(?:ENGINE|WORKER)_IMAGE=(\S+)", text)
    assert len(images) == 2 and all(".dkr.ecr.us-east-1.amazonaws.com/" in i for i in images)
