"""The real thing, against AWS through the Pulumi Automation API.

Skipped here (no Pulumi CLI, no AWS account). Where both exist, these run the very
program the offline plan evaluates:
- a preview of the dev stack with the policy pack, on a throwaway local state backend;
- with LLM_SERVING_E2E=1 (it costs money: a NAT gateway, an ALB, for minutes), an `up` of a
  throwaway stack with the model scaled to zero, a check of its outputs, and a `destroy`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

HAS_CLI = shutil.which("pulumi") is not None
HAS_AWS = any(os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"))

pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(not (HAS_CLI and HAS_AWS), reason="needs the Pulumi CLI and AWS credentials"),
]


def _stack(name: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    import pulumi.automation as auto

    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", "llm-serving-tests")
    workspace = auto.LocalWorkspaceOptions(work_dir=str(ROOT), env_vars={"PULUMI_BACKEND_URL": f"file://{tmp_path}"})
    stack = auto.create_or_select_stack(stack_name=name, work_dir=str(ROOT), opts=workspace)
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    for key, value in config.items():
        # Structured values as JSON text, as the CLI hands them to the program.
        stack.set_config(key, auto.ConfigValue(value=value if isinstance(value, str) else json.dumps(value)))
    return stack


def test_preview_of_dev_passes_the_policy_pack(tmp_path: Path) -> None:
    stack = _stack("it-preview", tmp_path)
    try:
        result = stack.preview(policy_packs=[str(ROOT / "policy_pack")], diff=False)
        assert result.change_summary.get("create", 0) > 50
    finally:
        stack.workspace.remove_stack("it-preview")


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("LLM_SERVING_E2E") != "1", reason="set LLM_SERVING_E2E=1 to deploy (costs money)")
def test_up_and_destroy_a_throwaway_stack(tmp_path: Path) -> None:
    stack = _stack("it-e2e", tmp_path)
    try:
        up = stack.up(on_output=print)
        outputs = up.outputs
        assert outputs["models"].value["chat"]["queueUrl"].startswith("https://sqs.")
        assert outputs["endpoint"].value.startswith("http")
    finally:
        stack.destroy(on_output=print)
        stack.workspace.remove_stack("it-e2e")
