"""``preview`` and ``drift`` without the Pulumi CLI: the Automation API stack is replaced by a
fake that records what it was asked and replays engine events in the JSON form the engine
emits (parsed by the Automation API's own ``EngineEvent.from_json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi.automation as auto
import pytest
from pulumi.automation.events import EngineEvent
from typer.testing import CliRunner

from infra import cli
from infra.preview_report import PreviewReport
from tests.helpers import ROOT

URN = "urn:pulumi:dev::llm-serving::llm-serving:aws:GpuFleet$aws:autoscaling/group:Group::chat-spot"


def step(op: str, urn: str = URN, type_: str = "aws:autoscaling/group:Group", **extra: Any) -> EngineEvent:
    return EngineEvent.from_json({"resourcePreEvent": {"metadata": {"op": op, "urn": urn, "type": type_, **extra}}})


def violation(level: str, policy: str = "group-multi-az") -> EngineEvent:
    return EngineEvent.from_json(
        {
            "policyEvent": {
                "message": "Groups span at least 2 AZs.\n",
                "policyName": policy,
                "policyPackName": "llm-serving",
                "enforcementLevel": level,
                "resourceUrn": URN,
            }
        }
    )


STACK_STEP = step("same", "urn:pulumi:dev::llm-serving::pulumi:pulumi:Stack::llm-serving-dev", "pulumi:pulumi:Stack")


class FakeStack:
    def __init__(self, events: list[EngineEvent], error: str | None = None) -> None:
        self.events, self.error = events, error
        self.calls: list[dict[str, Any]] = []

    def preview(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        for event in self.events:
            kwargs["on_event"](event)
        if self.error:
            raise auto.errors.CommandError(auto.CommandResult(stdout="", stderr=self.error, code=255))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(events: list[EngineEvent], error: str | None = None) -> FakeStack:
        stack = FakeStack(events, error)
        monkeypatch.setattr(cli, "_automation_stack", lambda _stack, _dir: stack)
        return stack

    return install


def test_report_keeps_replacement_keys_violations_and_errors() -> None:
    report = PreviewReport()
    for event in (
        STACK_STEP,
        step("replace", keys=["initialLifecycleHooks"], diffs=["initialLifecycleHooks"]),
        step("create-replacement", keys=["initialLifecycleHooks"]),
        step("update", URN.replace("chat-spot", "chat-od"), diffs=["maxSize"]),
        violation("mandatory"),
        violation("advisory", "load-balancer-https-internal"),
        EngineEvent.from_json({"diagnosticEvent": {"message": "boom\n", "color": "", "severity": "error"}}),
    ):
        report.on_event(event)

    assert report.counts() == {"replace": 1, "update": 1}
    assert [(s.name, s.keys) for s in report.replacements] == [
        ("chat-spot", ("initialLifecycleHooks",)),
        ("chat-spot", ("initialLifecycleHooks",)),
    ]
    assert [v.policy for v in report.mandatory] == ["group-multi-az"]
    assert report.errors == ["boom"]
    text = report.to_markdown("pulumi preview of dev")
    assert text.startswith("**pulumi preview of dev: failed** (1 to replace, 1 to update)")
    assert "- `aws:autoscaling/group:Group` **chat-spot**: `initialLifecycleHooks`" in text


def test_preview_passes_the_policy_pack_and_writes_the_report(fake: Any, tmp_path: Path) -> None:
    stack = fake([STACK_STEP, step("update", diffs=["maxSize"]), violation("advisory")])
    report = tmp_path / "preview.md"

    result = CliRunner().invoke(cli.app, ["preview", "dev", "--report", str(report)])

    assert result.exit_code == 0, result.output
    [call] = stack.calls
    assert call["policy_packs"] == [str(ROOT / "policy_pack")]
    assert Path(call["policy_packs"][0]).joinpath("PulumiPolicy.yaml").is_file()
    assert report.read_text().startswith("**pulumi preview of dev with the policy pack: passed** (1 to update)")


def test_preview_with_a_mandatory_violation_exits_1_and_still_reports_it(fake: Any, tmp_path: Path) -> None:
    fake([violation("mandatory")], error="error: preview failed: 1 mandatory policy violation")
    report = tmp_path / "preview.md"

    result = CliRunner().invoke(cli.app, ["preview", "dev", "--report", str(report)])

    assert result.exit_code == 1
    text = report.read_text()
    assert "failed" in text.splitlines()[0]
    assert "| mandatory | `group-multi-az` | chat-spot | Groups span at least 2 AZs. |" in text


@pytest.mark.parametrize(
    ("events", "error", "code", "verdict"),
    [
        ([STACK_STEP, step("same")], None, 0, "no drift"),
        ([STACK_STEP, step("update", diffs=["minSize"])], None, 1, "drift"),
        (
            [step("same")],
            "error: AccessDenied: not authorized to perform autoscaling:DescribeAutoScalingGroups",
            3,
            "error",
        ),
    ],
    ids=["clean", "drift", "error"],
)
def test_drift_tells_drift_from_an_error_by_exit_code(
    fake: Any, tmp_path: Path, events: list[EngineEvent], error: str | None, code: int, verdict: str
) -> None:
    stack = fake(events, error)
    report = tmp_path / "drift.md"

    result = CliRunner().invoke(cli.app, ["drift", "dev", "--report", str(report)])

    assert result.exit_code == code, result.output
    assert stack.calls[0]["refresh"] is True
    assert report.read_text().startswith(f"**Drift check of dev: {verdict}:")


def test_up_passes_the_policy_pack(fake: Any) -> None:
    stack = fake([])
    stack.up = stack.preview  # the same recorder

    result = CliRunner().invoke(cli.app, ["up", "dev", "--yes"])

    assert result.exit_code == 0, result.output
    assert stack.calls[0]["policy_packs"] == [str(ROOT / "policy_pack")]
