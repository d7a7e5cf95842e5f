"""Every IAM policy document in the plans passes parliament, an offline IAM linter.

parliament lints identity policies. Two of its findings do not apply to other kinds of
document and are the only ones allowed, each where it does not apply:
- trust policies have no Resource element by design (MALFORMED "neither Resource");
- in a KMS key policy, Resource "*" means the key itself (RESOURCE_STAR).
Trust and resource policies are also held to infra/policies.py's rules.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports pkg_resources
    import parliament

from infra.plan import Plan


def documents(plan: Plan) -> list[tuple[str, str, str]]:
    found = []
    for r in plan.resources:
        for key in ("policy", "assumeRolePolicy"):
            value = r.input(key)
            if isinstance(value, str) and '"Statement"' in value:
                found.append((f"{r.type} {r.name} {key}", r.type, value))
    for model, outputs in (plan.outputs.get("models") or {}).items():
        found.append((f"output models.{model}.producePolicy", "output", outputs["producePolicy"]))
    return found


def allowed(kind: str, key: str, issue: str, detail: Any) -> bool:
    if key.endswith("assumeRolePolicy") and issue == "MALFORMED" and "neither Resource" in str(detail):
        return True
    return kind == "aws:kms/key:Key" and issue == "RESOURCE_STAR"


def lint(text: str) -> list[tuple[str, Any]]:
    policy = parliament.analyze_policy_string(text, ignore_private_auditors=True)
    return [(f.issue, f.detail) for f in policy.findings]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_policy_document_passes_parliament(stack: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(f"{stack}_plan")
    docs = documents(plan)
    assert len(docs) >= 15
    problems = {
        key: issues
        for key, kind, text in docs
        if (issues := [(i, d) for i, d in lint(text) if not allowed(kind, key, i, d)])
    }
    assert problems == {}


def test_parliament_catches_what_it_should() -> None:
    bad = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:sqs:us-east-1:123456789012:q"}
            ],
        }
    )
    assert [issue for issue, _ in lint(bad)] == ["RESOURCE_MISMATCH"]
