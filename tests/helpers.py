"""Helpers for tests: a valid model config to vary, and plan queries."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from infra.plan import Plan, PlannedResource

ROOT = Path(__file__).resolve().parent.parent

LLAMA_8B: dict[str, Any] = {
    "modelId": "meta-llama/Llama-3.1-8B-Instruct",
    "revision": "0e9e39f249a16976918f6564b8830bc894c89659",
    "parametersBillions": 8,
    "instanceTypes": ["g6.xlarge", "g5.xlarge"],
}


WORKER_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-serving-worker:0.1.0"
AMI = "ami-0abc1234def567890"


def stack_config(**sections: Any) -> dict[str, Any]:
    """A minimal valid namespace, with ``sections`` replacing top-level keys."""
    config: dict[str, Any] = {
        "workerImage": WORKER_IMAGE,
        "ec2": {"amiId": AMI},
        "models": {"chat": copy.deepcopy(LLAMA_8B)},
    }
    config.update(copy.deepcopy(sections))
    return config


def model(**fields: Any) -> dict[str, Any]:
    m = copy.deepcopy(LLAMA_8B)
    m.update(fields)
    return m


def children_of_type(plan: Plan, component: PlannedResource, type_: str) -> list[PlannedResource]:
    return [r for r in plan.resources if r.parent == component.urn and r.type == type_]


def policy(resource: PlannedResource, key: str = "policy") -> dict[str, Any]:
    return json.loads(resource.input(key))
