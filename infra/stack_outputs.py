"""A deployed stack's outputs, as ``pulumi stack output --json`` prints them, and the names
in them that the post-deploy checks (``rollout wait``, ``smoke``) look for.

Read from a file (a CI job that saved them) or from the Pulumi CLI. Every accessor returns
None or an empty list when the outputs do not name a thing: the caller decides whether that
skips a check, and says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class OutputsError(Exception):
    """The outputs cannot be read: no file, no Pulumi CLI, or not JSON."""


@dataclass(frozen=True)
class StackOutputs:
    values: Mapping[str, Any]

    @property
    def results_bucket(self) -> str | None:
        value = self.values.get("resultsBucket")
        return value if isinstance(value, str) and value else None

    def models(self) -> dict[str, Mapping[str, Any]]:
        models = self.values.get("models")
        if not isinstance(models, Mapping):
            return {}
        return {str(name): m for name, m in sorted(models.items()) if isinstance(m, Mapping)}

    def first_queue_url(self) -> str | None:
        """A model's queue URL: its region is the stack's (``model_server.queue_url.session_for``)."""
        return next((m["queueUrl"] for m in self.models().values() if isinstance(m.get("queueUrl"), str)), None)

    @staticmethod
    def names(model: Mapping[str, Any], key: str) -> list[str]:
        """A list of names the model's outputs hold under ``key`` (empty when absent)."""
        value = model.get(key)
        if isinstance(value, list):
            return [str(v) for v in value if isinstance(v, str) and v]
        return []

    def endpoints(self) -> dict[str, tuple[str, str]]:
        """Each SageMaker model's endpoint and the configuration the stack deployed to it."""
        out = {}
        for name, m in self.models().items():
            endpoint, config = m.get("endpointName"), m.get("endpointConfigName")
            if isinstance(endpoint, str) and isinstance(config, str):
                out[name] = (endpoint, config)
        return out

    def group_names(self) -> dict[str, list[str]]:
        return {name: self.names(m, "autoScalingGroupNames") for name, m in self.models().items()}


def read_outputs(stack: str, outputs_file: Path | None, project_dir: Path) -> StackOutputs:
    """The outputs in ``outputs_file``, or ``pulumi stack output --json`` of ``stack``."""
    if outputs_file is not None:
        try:
            text = outputs_file.read_text()
        except OSError as e:
            raise OutputsError(f"cannot read {outputs_file}: {e.strerror}") from None
        source = str(outputs_file)
    else:
        if shutil.which("pulumi") is None:
            raise OutputsError(
                "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/): install it, "
                f"or pass --outputs FILE holding `pulumi stack output --json -s {stack}`"
            )
        result = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", stack],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise OutputsError(f"`pulumi stack output --json --stack {stack}` failed: {result.stderr.strip()}")
        text, source = result.stdout, f"pulumi stack output of {stack}"
    try:
        values = json.loads(text)
    except json.JSONDecodeError as e:
        raise OutputsError(f"{source} is not JSON: {e}") from None
    if not isinstance(values, dict):
        raise OutputsError(f"{source} is not a JSON object of outputs")
    return StackOutputs(values)
