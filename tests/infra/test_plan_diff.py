"""``plan diff``: resources added, removed and changed between two plans, replacements marked,
on hand-made plans and on real plans of the dev stack."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.plan import Plan, run_plan
from infra.plan_diff import COMMENT_LIMIT, MARKER, diff_plans, to_markdown, to_text
from tests.helpers import ROOT

GROUP = "aws:autoscaling/group:Group"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def rule(type_token: str, path: str) -> bool:
    """A small table standing in for infra/replacements.py in the unit tests: an entry covers
    everything under it, list indices ignored; KeyError for other types, like the real one."""
    table = {GROUP: {"initialLifecycleHooks", "mixedInstancesPolicy.launchTemplate.name"}, TEMPLATE: set()}
    bare = re.sub(r"\[\d+\]", "", path)
    return any(bare == entry or bare.startswith(entry + ".") for entry in table[type_token])


def resource(name: str, type_: str = GROUP, **inputs: Any) -> dict[str, Any]:
    return {"urn": f"urn:pulumi:dev::p::{type_}::{name}", "type": type_, "name": name, "parent": "", "inputs": inputs}


def plan(*resources: dict[str, Any], findings: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"project": "p", "stack": "dev", "resources": list(resources), "outputs": {}, "findings": findings or []}


def test_lists_added_removed_and_changed_resources() -> None:
    base = plan(resource("kept", minSize=0), resource("gone"), resource("same", minSize=1))
    head = plan(resource("kept", minSize=2), resource("new"), resource("same", minSize=1))

    diff = diff_plans(base, head, rule)

    assert [(r.kind, r.name) for r in diff.resources] == [("remove", "gone"), ("update", "kept"), ("add", "new")]
    [kept] = diff.of_kind("update")
    assert [(c.path, c.before, c.after, c.replaces) for c in kept.changes] == [("minSize", 0, 2, False)]


def test_a_change_inside_a_replace_on_change_property_replaces() -> None:
    hooks = [{"name": "launch", "heartbeatTimeout": 600}]
    changed = [{"name": "launch", "heartbeatTimeout": 900}]
    diff = diff_plans(
        plan(resource("g", initialLifecycleHooks=hooks)), plan(resource("g", initialLifecycleHooks=changed)), rule
    )

    [group] = diff.resources
    assert group.kind == "replace"
    assert group.replacing_paths == ["initialLifecycleHooks[0].heartbeatTimeout"]


def test_nested_replace_on_change_path_matches_only_itself() -> None:
    before = {"launchTemplate": {"name": "a", "version": "1"}}
    after = {"launchTemplate": {"name": "a", "version": "2"}}
    diff = diff_plans(
        plan(resource("g", mixedInstancesPolicy=before)), plan(resource("g", mixedInstancesPolicy=after)), rule
    )
    assert [r.kind for r in diff.resources] == ["update"]


def test_type_outside_the_table_is_marked_unknown_not_safe() -> None:
    queue = "aws:sqs/queue:Queue"
    diff = diff_plans(plan(resource("q", queue, delaySeconds=0)), plan(resource("q", queue, delaySeconds=5)), rule)

    [change] = diff.resources
    assert change.kind == "update"
    assert change.unknown_type
    assert [c.replaces for c in change.changes] == [None]
    assert "aws:sqs/queue:Queue" in to_markdown(diff)


def test_a_change_that_replaces_for_some_values_only_is_flagged_as_may_replace() -> None:
    # aws:lb/loadBalancer subnets: a network load balancer losing a subnet is replaced.
    balancer = "aws:lb/loadBalancer:LoadBalancer"
    diff = diff_plans(
        plan(resource("nlb", balancer, subnets=["subnet-a", "subnet-b"])),
        plan(resource("nlb", balancer, subnets=["subnet-a"])),
        lambda type_token, path: False,
    )
    [change] = diff.resources
    assert change.kind == "update"
    [subnets] = change.changes
    assert subnets.replaces_if == "a subnet is removed from a network load balancer"
    assert "may be replaced: subnets; `pulumi preview` decides" in to_text(diff)
    assert "may force replacement (a subnet is removed from a network load balancer)" in to_text(diff)
    assert "`subnets` (**may replace**)" in to_markdown(diff)
    assert diff.to_json()["resources"][0]["changes"][0]["replacesIf"] == subnets.replaces_if


def test_a_list_that_grows_is_one_change_of_the_whole_list() -> None:
    diff = diff_plans(plan(resource("g", tags=["a"])), plan(resource("g", tags=["a", "b"])), rule)
    assert [(c.path, c.before, c.after) for c in diff.resources[0].changes] == [("tags", ["a"], ["a", "b"])]


def test_markdown_starts_with_the_stack_marker_and_flags_replacements() -> None:
    hooks = [{"heartbeatTimeout": 600}]
    diff = diff_plans(
        plan(resource("chat-spot", initialLifecycleHooks=hooks)),
        plan(resource("chat-spot", initialLifecycleHooks=[{"heartbeatTimeout": 900}])),
        rule,
    )
    text = to_markdown(diff, mermaid="```mermaid\nflowchart LR\n```\n")

    assert text.splitlines()[0] == MARKER.format(stack="dev")
    assert "> [!CAUTION]" in text
    assert "**chat-spot**, by `initialLifecycleHooks[0].heartbeatTimeout`" in text
    assert "<details><summary>Diagram of stack dev</summary>" in text


def test_markdown_of_a_huge_diff_fits_one_comment_and_says_it_was_shortened() -> None:
    base = plan(*[resource(f"r{i}", TEMPLATE, userData="a\n" * 3000) for i in range(60)])
    head = plan(*[resource(f"r{i}", TEMPLATE, userData="b\n" * 3000) for i in range(60)])
    text = to_markdown(diff_plans(base, head, rule), mermaid="```mermaid\n" + "x\n" * 40000 + "```\n")

    assert len(text) <= COMMENT_LIMIT
    assert text.startswith(MARKER.format(stack="dev"))
    assert "Shortened to fit" in text or "cut to fit" in text


def test_findings_of_the_head_plan_are_listed_mandatory_first() -> None:
    findings = [
        {"policy": "b-advice", "level": "advisory", "urn": "urn:x::a", "message": "consider"},
        {"policy": "a-rule", "level": "mandatory", "urn": "urn:x::b", "message": "must | fix"},
    ]
    diff = diff_plans(plan(), plan(findings=findings), rule)
    text = to_markdown(diff)

    assert diff.mandatory_findings == [findings[1]]
    assert "**Policy findings: 1 mandatory, 1 advisory**" in text
    assert text.index("`a-rule`") < text.index("`b-advice`")
    assert "must \\| fix" in text


# ------------------------------------------------------------------- real plans of dev


def dev_models() -> dict[str, Any]:
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    return copy.deepcopy(stack["config"]["llm-serving:models"])


@pytest.fixture(scope="module")
def real_rule() -> Any:
    from infra.replacements import forces_replacement

    return forces_replacement


def test_a_new_model_revision_changes_the_launch_template_and_replaces_nothing(dev_plan: Plan, real_rule: Any) -> None:
    models = dev_models()
    models["chat"]["revision"] = "5206a32e0bd3067aef1ce90f5528ade7d866253f"
    head = run_plan("dev", overrides={"llm-serving:models": models})

    diff = diff_plans(dev_plan.to_json(), head.to_json(), real_rule)

    assert [(r.kind, r.type, r.name) for r in diff.resources] == [("update", TEMPLATE, "chat-lt")]
    [user_data] = diff.resources[0].changes
    assert user_data.path == "userData"
    assert "+    5206a32e0bd3067aef1ce90f5528ade7d866253f" in to_text(diff)


def test_a_longer_grace_period_replaces_nothing(dev_plan: Plan, real_rule: Any) -> None:
    # The groups' lifecycle hooks no longer derive from the grace period: the change reaches
    # them in place, and the launch template gets a new version.
    models = dev_models()
    models["chat"]["healthCheckGraceSeconds"] = 900
    head = run_plan("dev", overrides={"llm-serving:models": models})

    diff = diff_plans(dev_plan.to_json(), head.to_json(), real_rule)

    assert diff.of_kind("replace") == []
    changed = {r.name for r in diff.of_kind("update")}
    assert {"chat-on-demand", "chat-spot", "chat-lt"} <= changed
    assert "will be replaced" not in to_markdown(diff)


def test_a_new_stack_name_prefix_would_replace_both_groups(dev_plan: Plan, real_rule: Any) -> None:
    # What the table flags when a group must be replaced: its name prefix.
    head = dev_plan.to_json()
    for r in head["resources"]:
        if r["type"] == "aws:autoscaling/group:Group":
            r["inputs"]["namePrefix"] = "llm-other-" + r["inputs"]["namePrefix"]
    diff = diff_plans(dev_plan.to_json(), head, real_rule)
    replaced = {r.name: r.replacing_paths for r in diff.of_kind("replace")}
    assert set(replaced) == {"chat-on-demand", "chat-spot"}
    assert "will be replaced" in to_markdown(diff)


# ------------------------------------------------------------------------ command line


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "diff", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_cli_diffs_two_plan_files_and_exits_1_on_mandatory_findings_of_the_head(tmp_path: Path) -> None:
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    finding = {"policy": "queue-encrypted", "level": "mandatory", "urn": "urn:x::q", "message": "encrypt it"}
    base.write_text(json.dumps(plan()))
    head.write_text(json.dumps(plan(resource("new", "aws:sqs/queue:Queue"), findings=[finding])))

    result = cli(str(base), str(head))

    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[:2] == ["stack dev: 1 to add", " + sqs.Queue new"]


def test_cli_refuses_a_file_that_is_not_a_plan(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"nope": 1}')
    result = cli(str(bad), str(bad))
    assert result.returncode == 2
    assert "not a plan" in result.stderr


def test_cli_plans_the_base_revision_in_a_worktree(tmp_path: Path) -> None:
    """A throwaway repository holding this project; the base commit has the dev stack as
    committed, the working tree a new revision of the chat model."""
    repo = tmp_path / "repo"
    for part in ("infra", "components", "model_server"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, repo / name)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    stack_file = repo / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text().replace(
            "0e9e39f249a16976918f6564b8830bc894c89659", "5206a32e0bd3067aef1ce90f5528ade7d866253f"
        )
    )

    result = cli("--base", "HEAD", "dev", "--json", "--project-dir", str(repo))

    assert result.returncode == 0, result.stderr
    diff = json.loads(result.stdout)
    assert [(r["kind"], r["name"]) for r in diff["resources"]] == [("update", "chat-lt")]
    assert subprocess.run([*git, "worktree", "list"], capture_output=True, text=True).stdout.count("\n") == 1


def prod_models() -> dict[str, Any]:
    stack = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    return copy.deepcopy(stack["config"]["llm-serving:models"])


def test_a_new_revision_on_sagemaker_replaces_model_and_configuration_and_updates_the_endpoint(
    prod_plan: Plan, real_rule: Any
) -> None:
    # Model and configuration are immutable in SageMaker: each change makes new ones
    # (autonamed, so created before the old ones go); the endpoint moves to them in place,
    # through its deployment policy, and is never replaced for it.
    models = prod_models()
    models["assist"]["revision"] = "5206a32e0bd3067aef1ce90f5528ade7d866253f"
    head = run_plan("prod", overrides={"llm-serving:models": models})

    diff = diff_plans(prod_plan.to_json(), head.to_json(), real_rule)

    kinds = {r.name: r.kind for r in diff.resources}
    assert kinds["assist-model"] == "replace"
    assert kinds["assist-config"] == "replace"
    assert kinds["assist-endpoint"] == "update"
    assert all(not name.startswith(("chat-", "summarize-")) for name in kinds)
    assert "will be replaced" in to_markdown(diff)


def test_a_new_instance_type_on_sagemaker_is_a_new_endpoint(prod_plan: Plan, real_rule: Any) -> None:
    models = prod_models()
    models["assist"]["instanceTypes"] = ["ml.g6e.2xlarge"]
    head = run_plan("prod", overrides={"llm-serving:models": models})

    diff = diff_plans(prod_plan.to_json(), head.to_json(), real_rule)

    replaced = {r.name: r.replacing_paths for r in diff.of_kind("replace")}
    assert "name" in replaced["assist-endpoint"]  # llm-prod-assist-g6e-xlarge -> ...-g6e-2xlarge
    assert "assist-capacity" in replaced  # the scalable target follows its endpoint
