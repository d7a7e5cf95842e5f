"""What a real ``pulumi preview`` (or drift check) found, gathered from the engine's events.

The Automation API hands every engine event to ``on_event``: each resource step with its
operation and the keys that force a replacement, each policy violation with its enforcement
level, each error. This keeps them, so a pull-request comment shows the policy findings and
replacements even when the preview fails, which is when they matter most (a comment built
from the CLI's text output is only posted after success: docs/cicd.md, "Pull requests").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NO_CHANGE = frozenset({"same", "read", "refresh", "discard"})
"""Operations that change nothing in the cloud."""
IGNORED_TYPES = ("pulumi:pulumi:Stack", "pulumi:providers:")
"""The stack itself and provider instances: their steps are bookkeeping, not resources."""


@dataclass(frozen=True)
class Step:
    op: str
    urn: str
    type: str
    keys: tuple[str, ...] = ()
    """The properties that force a replacement (replace operations)."""
    diffs: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    """``mandatory``, ``advisory`` or ``disabled`` as the engine reports it."""
    urn: str
    message: str


@dataclass
class PreviewReport:
    steps: list[Step] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failure: str | None = None
    """Set when the command itself failed (the CLI's error)."""

    def on_event(self, event: Any) -> None:
        """Give this to ``Stack.preview(on_event=...)``."""
        pre = getattr(event, "resource_pre_event", None)
        if pre is not None and pre.metadata is not None:
            m = pre.metadata
            op = getattr(m.op, "value", str(m.op))
            if not m.type.startswith(IGNORED_TYPES):
                self.steps.append(Step(op, m.urn, m.type, tuple(m.keys or ()), tuple(m.diffs or ())))
        policy = getattr(event, "policy_event", None)
        if policy is not None:
            self.violations.append(
                Violation(
                    policy.policy_name, policy.enforcement_level, policy.resource_urn or "", policy.message.strip()
                )
            )
        diagnostic = getattr(event, "diagnostic_event", None)
        if diagnostic is not None and diagnostic.severity == "error":
            self.errors.append(diagnostic.message.strip())

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.op not in NO_CHANGE]

    @property
    def replacements(self) -> list[Step]:
        return [s for s in self.steps if s.op in ("replace", "create-replacement")]

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for step in self.changes:
            if step.op in ("create-replacement", "delete-replaced"):
                continue  # the halves of a replace, counted once as "replace"
            counts[step.op] = counts.get(step.op, 0) + 1
        return counts

    def to_markdown(self, title: str) -> str:
        counts = self.counts()
        summary = ", ".join(f"{n} to {op}" for op, n in sorted(counts.items())) or "no changes"
        state = "failed" if self.failure or self.errors or self.mandatory else "passed"
        out = [f"**{title}: {state}** ({summary})", ""]
        if self.failure:
            out += ["```", self.failure.strip()[-3000:], "```", ""]
        for error in self.errors:
            out += [f"- error: {error}"]
        if self.violations:
            out += ["| level | policy | resource | message |", "| --- | --- | --- | --- |"]
            for v in sorted(self.violations, key=lambda v: (v.level != "mandatory", v.policy, v.urn)):
                message = v.message.replace("|", "\\|").replace("\n", " ")
                out.append(f"| {v.level} | `{v.policy}` | {v.urn.rsplit('::', 1)[-1]} | {message} |")
            out.append("")
        replaced = {s.urn: s for s in self.replacements}
        if replaced:
            out.append("Replacements (the keys the provider named):")
            for s in replaced.values():
                out.append(f"- `{s.type}` **{s.name}**: {', '.join(f'`{k}`' for k in s.keys) or '(keys not given)'}")
            out.append("")
        changes = [s for s in self.changes if s.op not in ("create-replacement", "delete-replaced")]
        if changes:
            out += ["| op | resource | type | properties |", "| --- | --- | --- | --- |"]
            out += [f"| {s.op} | {s.name} | `{s.type}` | {', '.join(s.diffs)} |" for s in changes]
        return "\n".join(out).rstrip() + "\n"
