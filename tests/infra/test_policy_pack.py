"""The policy pack hands Pulumi exactly the rules the offline plan runs."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
import yaml

from infra.policies import POLICIES

PACK = Path(__file__).parents[2] / "policy_pack"


def test_pack_lists_every_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, Any] = {}

    class Recorder:
        """Stands in for PolicyPack, which would start a gRPC server and never return."""

        def __init__(self, **kwargs: Any) -> None:
            built.update(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", Recorder)
    runpy.run_path(str(PACK / "__main__.py"), run_name="__main__")
    assert built["policies"] is POLICIES
    assert [p.name for p in built["policies"]] == [p.name for p in POLICIES]
    assert built["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY


def test_rule_names_are_unique_and_described() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) >= 30
    assert all(p.description for p in POLICIES)


def test_pack_runs_in_the_projects_environment() -> None:
    pack = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    assert (PACK / pack["runtime"]["options"]["virtualenv"]).resolve() == (PACK.parent / ".venv").resolve()


def test_readme_lists_every_rule() -> None:
    readme = (PACK.parent / "README.md").read_text()
    missing = [p.name for p in POLICIES if f"| `{p.name}` | {p.enforcement_level.value} |" not in readme]
    assert missing == []
