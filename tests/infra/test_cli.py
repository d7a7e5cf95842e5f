"""The command line as users run it: a real process, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

CLI = [sys.executable, "-m", "infra.cli"]


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def bad_project(tmp_path: Path, change: dict) -> Path:  # type: ignore[type-arg]
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    chat = stack["config"]["llm-serving:models"]["chat"]
    for key, value in change.items():
        if value is None:
            chat.pop(key)
        else:
            chat[key] = value
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(stack))
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"capacty": {"min": 1}}, "llm-serving:models.chat.capacty: unknown key: did you mean capacity?"),
        ({"capacity": {"min": 3, "max": 2}}, "llm-serving:models.chat.capacity.max: must be at least min (3)"),
        (
            {"instanceTypes": ["m5.xlarge", "g5.xlarge"]},
            "llm-serving:models.chat.instanceTypes[0]: m5.xlarge is not a GPU instance type",
        ),
        (
            {"parametersBillions": 13, "instanceTypes": ["g5.xlarge", "g6e.xlarge"]},
            "llm-serving:models.chat.instanceTypes[0]: g5.xlarge cannot hold the weights and one request of "
            "maxTotalTokens: per GPU, 13B parameters x 2 bytes",
        ),
    ],
    ids=["typo", "min-above-max", "non-gpu", "13b-on-24gb"],
)
def test_bad_config_exits_2_with_one_line_naming_the_key(tmp_path: Path, change: dict, message: str) -> None:  # type: ignore[type-arg]
    result = run("plan", "bad", "--project-dir", str(bad_project(tmp_path, change)))
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {message}")
    assert "Traceback" not in result.stderr


def test_plan_prod_json_lists_network_queues_bucket_and_secret() -> None:
    result = run("plan", "prod", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    types = {r["type"] for r in document["resources"]}
    assert {
        "aws:ec2/vpc:Vpc",
        "aws:sqs/queue:Queue",
        "aws:s3/bucket:Bucket",
        "aws:secretsmanager/secret:Secret",
    } <= types
    names = {r["name"] for r in document["resources"]}
    assert {"chat-queue", "chat-dlq", "summarize-queue", "summarize-dlq"} <= names


def test_plan_human_view_shows_the_tree_and_counts() -> None:
    result = run("plan", "dev")
    assert result.returncode == 0, result.stderr
    assert "chat RequestQueue" in result.stdout
    assert "chat-queue sqs.Queue" in result.stdout
    assert "Resources by type" in result.stdout


def test_plan_mermaid_is_a_fenced_flowchart() -> None:
    result = run("plan", "dev", "--mermaid")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "```mermaid" and lines[1] == "flowchart LR" and lines[-1] == "```"
    assert 'subgraph model0["model chat"]' in result.stdout
    assert "-->|uses|" in result.stdout


def test_unknown_stack_exits_2() -> None:
    result = run("plan", "staging")
    assert result.returncode == 2
    assert "no stack file Pulumi.staging.yaml" in result.stderr


def test_json_and_mermaid_together_is_a_usage_error() -> None:
    assert run("plan", "dev", "--json", "--mermaid").returncode == 2


@pytest.mark.parametrize("command", ["preview", "up", "destroy"])
def test_deploy_without_the_pulumi_cli_exits_2_and_points_at_plan(command: str) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(ROOT)}
    args = [command, "dev"] + (["--yes"] if command != "preview" else [])
    result = run(*args, env=env)
    assert result.returncode == 2
    assert "the Pulumi CLI is not installed" in result.stderr
    assert "llm-serving plan dev" in result.stderr


def test_up_without_yes_refuses() -> None:
    result = run("up", "dev")
    assert result.returncode == 2
    assert "--yes" in result.stderr


def test_the_plan_shows_where_each_models_weights_come_from() -> None:
    dev, prod = run("plan", "dev"), run("plan", "prod")
    assert dev.returncode == 0 and prod.returncode == 0
    [chat] = [line for line in dev.stdout.splitlines() if line.strip().startswith("chat ")]
    assert "the Hugging Face Hub (token)" in chat and "huggingface.co/meta-llama/Llama-3.1-8B-Instruct/tree/" in chat
    staged = [line for line in prod.stdout.splitlines() if "the stack's bucket (staged)" in line]
    assert len(staged) == 3 and all("s3://weights-bucket-" in line for line in staged)
