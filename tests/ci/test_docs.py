"""What the CI/CD docs and docstrings say, held to the code they describe: the drift
schedule, the rollout, the services CI roles are passed to, the program's buckets, the
CLI's exit codes."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import yaml

from bootstrap import permissions
from infra import cli
from tests.helpers import ROOT

CICD = (ROOT / "docs" / "cicd.md").read_text()
README = (ROOT / "README.md").read_text()
DAYS = {"*": "every day", "1-5": "weekdays"}


def drift_schedule() -> str:
    """The drift workflow's cron, in words: ``weekdays 09:17 UTC``."""
    [entry] = yaml.safe_load((ROOT / ".github/workflows/drift.yml").read_text())[True]["schedule"]
    minute, hour, day, month, weekday = entry["cron"].split()
    assert (day, month) == ("*", "*"), "describe this schedule in words here"
    return f"{DAYS[weekday]} {int(hour):02d}:{int(minute):02d} UTC"


def test_the_docs_give_the_drift_check_the_schedule_it_has() -> None:
    schedule = drift_schedule()
    assert schedule == "weekdays 09:17 UTC"
    readme_cicd = README[README.index("## CI/CD") :]
    readme_cicd = readme_cicd[: readme_cicd.index("\n## ", 1)]
    for name, text in (("README.md", readme_cicd), ("docs/cicd.md", CICD)):
        assert schedule in " ".join(text.split()), name
        assert not re.search(r"nightly|every night|at night drift", text, re.IGNORECASE), name


def test_the_docs_describe_the_rollout_the_code_makes() -> None:
    deploys = CICD[CICD.index("## Deploys") : CICD.index("## Drift")]
    flat = " ".join(deploys.split())
    assert "`InstanceRefresh`" in flat and "`components/ec2/fleet_rollout.py`" in flat
    assert "desired configuration" in flat
    for stale in ("the provider's group resource", "the provider writes the new launch template"):
        assert stale not in flat


def test_the_docs_name_every_service_the_deploy_role_passes_roles_to() -> None:
    privilege = " ".join(CICD[CICD.index("## Least privilege") :].split())
    for service in permissions.PASSED_TO:
        assert f"`{service}`" in privilege
    assert all(service in " ".join((permissions.__doc__ or "").split()) for service in ("EC2", "CodeBuild"))


def test_the_pass_role_statement_is_named_for_where_roles_go() -> None:
    [passing] = [
        s
        for s in permissions.statements(write=True, region="us-east-1", account="123456789012", stack="dev")
        if s["Action"] == ["iam:PassRole"]
    ]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": list(permissions.PASSED_TO)}}
    assert passing["Sid"] == "PassRolesToTheServicesThatRunThem"
    assert permissions.PASSED_TO == (
        "codebuild.amazonaws.com",
        "ec2.amazonaws.com",
        "ecs-tasks.amazonaws.com",
        "eks.amazonaws.com",
        "pods.eks.amazonaws.com",
        "sagemaker.amazonaws.com",
        "vpc-flow-logs.amazonaws.com",
    )


def _docstring_after(path: Path, name: str) -> str:
    """The string literal that follows the assignment of ``name`` at the top of ``path``."""
    body = ast.parse(path.read_text()).body
    for statement, following in itertools.pairwise(body):
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            assert isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
            return str(following.value.value)
    raise AssertionError(f"no {name} in {path}")


def test_the_buckets_docstring_names_every_component_that_makes_a_bucket() -> None:
    makers = sorted(
        f"components/{p.name}"
        for p in (ROOT / "components").glob("*.py")
        if p.name != "_bucket.py" and "private_bucket(" in p.read_text()
    )
    assert len(makers) == 3
    doc = " ".join(_docstring_after(ROOT / "bootstrap" / "permissions.py", "BUCKETS").split())
    assert [m for m in makers if m not in doc] == []


def test_the_cli_docstring_lists_every_exit_code() -> None:
    codes = {value for name, value in vars(cli).items() if name.startswith("EXIT_") and isinstance(value, int)}
    assert codes == {0, 1, 2, 3}
    listed = re.search(r"Exit codes: (.*?)\.(?: |$)", " ".join((cli.__doc__ or "").split()))
    assert listed is not None
    assert {int(c) for c in re.findall(r"(?:^|, )(\d+) ", listed.group(1))} == codes
