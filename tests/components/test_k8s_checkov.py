"""checkov's Kubernetes checks on the plan's Kubernetes objects (tests/k8s_schemas.py).

checkov runs from its own environment (`make checkov`: .tools/checkov), as it pins versions
the project cannot share; `make test` installs it, so these tests run in CI and skip only
where it has not been installed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.plan import PROJECT_DIR, Plan
from tests.components.test_k8s_schemas import K8S_PLANS
from tests.k8s_schemas import is_object, manifests

CHECKOV = PROJECT_DIR / ".tools" / "checkov" / "bin" / "checkov"

pytestmark = pytest.mark.skipif(not CHECKOV.exists(), reason="checkov is not installed: run `make checkov`")

SKIPS: dict[str, str] = {
    "CKV_K8S_8": "liveness probe: the worker, the pod's main container, serves no port (the queue's "
    "not-consumed and age alarms watch it); the engine, a native sidecar, has startup, readiness "
    "and liveness probes",
    "CKV_K8S_9": "readiness probe: as CKV_K8S_8; the pod is ready when the engine is",
    "CKV_K8S_11": "CPU limits: a CPU limit throttles the engine's scheduler and tokenizer between GPU "
    "steps; the requests reserve its cores",
    "CKV_K8S_15": "image pull policy Always: images are pinned by tag; pulling a 15 GB engine image "
    "again at every restart costs minutes of GPU time",
    "CKV_K8S_22": "read-only root filesystem: AWS's engine images and the AWS CLI write caches in "
    "their own paths; the worker's root filesystem is read-only",
    "CKV_K8S_23": "non-root: AWS's TGI, vLLM and AWS CLI images run as root (no USER); the worker runs as 10001",
    "CKV_K8S_40": "high UID: as CKV_K8S_23; the worker's UID is 10001",
    "CKV_K8S_38": "service account token: EKS Pod Identity gives the pods their AWS role through "
    "their service account, which the pods need mounted",
    "CKV_K8S_43": "image digest: AWS publishes its engine images by tag (infra/image_tables), and "
    "tags are pinned in code and config",
}
"""checkov checks the EKS objects knowingly fail, each with the reason."""


def failed_checks(docs: list[dict[str, Any]], folder: Path) -> list[str]:
    """``CHECK_ID resource: name`` for each of checkov's failed Kubernetes checks on ``docs``."""
    for i, doc in enumerate(docs):
        (folder / f"{i:03d}-{doc['kind'].lower()}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    command = [str(CHECKOV), "-d", str(folder), "--framework", "kubernetes", "-o", "json", "--quiet"]
    command += ["--skip-download", *(f"--skip-check={check}" for check in SKIPS)]
    # No call home: without these checkov downloads its guidelines at every run.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_NO_TELEMETRY": "1"}
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    if run.returncode not in (0, 1):  # 1: some check failed
        raise AssertionError(f"checkov exited {run.returncode}: {run.stderr[-2000:]}")
    reports = json.loads(run.stdout) if run.stdout.strip() else []
    reports = reports if isinstance(reports, list) else [reports]
    return sorted(
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for report in reports
        if isinstance(report, dict) and "results" in report
        for check in report["results"]["failed_checks"]
    )


def test_checkov_flags_a_privileged_container(tmp_path: Path) -> None:
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "llm-serving"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.37", "securityContext": {"privileged": True}}]},
    }
    found = failed_checks([privileged], tmp_path)
    assert "CKV_K8S_16 Pod.llm-serving.p: Container should not be privileged" in found


@pytest.mark.parametrize("fixture", K8S_PLANS)
def test_plans_kubernetes_objects_pass_checkov(request: pytest.FixtureRequest, fixture: str, tmp_path: Path) -> None:
    try:
        plan: Plan = request.getfixturevalue(fixture)
    except pytest.FixtureLookupError:
        pytest.skip(f"no fixture {fixture} yet: the EKS backend's stacks add it (tests/conftest.py)")
    if not any(is_object(r) for r in plan.resources):
        pytest.skip(f"{fixture} declares no Kubernetes object yet")
    assert failed_checks(manifests(plan), tmp_path) == []
