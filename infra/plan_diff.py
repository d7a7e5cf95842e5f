"""The difference between two offline plans: resources added, removed and changed, and the
changes that force AWS to replace a resource.

Resources are matched by URN, so a renamed resource is one removed and one added (unless
the program ships an alias). Inputs are compared in their wire form, property by property
down to the leaves. Whether a change replaces the resource comes from
``infra/replacements.py``, a cited table of replace-on-change properties: the provider's
schema, which knows it, is not available offline (docs/cicd.md, "Plan diff"). A real
``pulumi preview`` stays the authority: it reports the keys that caused each replacement.

Views: one line per change for a terminal, JSON, and Markdown for a pull-request comment
(under GitHub's 65,536-character limit for a comment).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

COMMENT_LIMIT = 65_536
"""GitHub refuses an issue or pull-request comment body longer than this many characters
(REST API, "Create an issue comment": ``body`` is limited to 65536 characters)."""
MARKER = "<!-- llm-serving plan {stack} -->"
"""First line of a stack's pull-request comment: the commenter updates the comment that
starts with it instead of adding another. The commenter, .github/scripts/github_api.py,
keeps its own copy of this and of ``COMMENT_LIMIT`` (standard library only: it cannot import
this module); tests/ci/test_github_api.py keeps them equal."""
DETAIL_LINES = 40
"""Lines of a unified diff shown per changed property before eliding the rest."""
COMPUTED = "<computed>"

Kind = Literal["add", "remove", "update", "replace"]
SYMBOL: dict[str, str] = {"add": "+", "remove": "-", "update": "~", "replace": "+-"}
"""The marks Pulumi's own preview uses for each operation."""

ReplacementRule = Callable[[str, str], bool]
"""``(type token, dotted property path) -> forces replacement``; raises KeyError for a type
it does not know (``infra.replacements.forces_replacement``)."""


class PlanInputError(Exception):
    """A plan file or a base revision that cannot be read or planned."""


@dataclass(frozen=True)
class PropertyChange:
    path: str
    """Wire names, dotted, list items as ``[i]``: ``initialLifecycleHooks[0].heartbeatTimeout``."""
    before: Any
    after: Any
    """``MISSING`` when the property is absent on that side."""
    replaces: bool | None
    """True when the change forces a replacement; None when the table does not know the type."""
    replaces_if: str | None = None
    """When the change replaces the resource for some values only: the condition
    (``infra.replacements.REPLACE_IF``); ``pulumi preview`` decides."""

    @property
    def mark(self) -> str:
        """How the change is flagged: forces replacement, may, or nothing."""
        if self.replaces:
            return "forces replacement"
        return f"may force replacement ({self.replaces_if})" if self.replaces_if else ""


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class ResourceChange:
    kind: Kind
    urn: str
    type: str
    name: str
    changes: tuple[PropertyChange, ...] = ()

    @property
    def replacing_paths(self) -> list[str]:
        return [c.path for c in self.changes if c.replaces]

    @property
    def unknown_type(self) -> bool:
        return any(c.replaces is None for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "changes": [
                {
                    "path": c.path,
                    "before": None if c.before is MISSING else c.before,
                    "after": None if c.after is MISSING else c.after,
                    "replaces": c.replaces,
                    "replacesIf": c.replaces_if,
                }
                for c in self.changes
            ],
        }


@dataclass
class PlanDiff:
    stack: str
    resources: list[ResourceChange]
    findings: list[dict[str, str]] = field(default_factory=list)
    """The head plan's policy findings."""
    base_label: str = "base"
    head_label: str = "head"

    def of_kind(self, kind: Kind) -> list[ResourceChange]:
        return [r for r in self.resources if r.kind == kind]

    @property
    def mandatory_findings(self) -> list[dict[str, str]]:
        return [f for f in self.findings if f.get("level") == "mandatory"]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of_kind(kind)) for kind in ("add", "update", "replace", "remove")}

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "base": self.base_label,
            "head": self.head_label,
            "counts": self.counts(),
            "resources": [r.to_json() for r in self.resources],
            "findings": self.findings,
        }


# ----------------------------------------------------------------------------- diffing


def _replacement_rule() -> ReplacementRule:
    from infra.replacements import forces_replacement

    return forces_replacement


def _replaces_if(type_token: str, path: str) -> str | None:
    from infra.replacements import replace_condition

    return replace_condition(type_token, path)


def _replaces(rule: ReplacementRule, type_token: str, path: str) -> bool | None:
    try:
        return rule(type_token, path)
    except KeyError:  # a type the table does not classify: never silently "safe"
        return None


def _leaf_changes(before: Any, after: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            sub = f"{path}.{key}" if path else str(key)
            yield from _leaf_changes(before.get(key, MISSING), after.get(key, MISSING), sub)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            yield from _leaf_changes(b, a, f"{path}[{i}]")
    elif before != after:
        yield path, before, after


def diff_plans(base: Mapping[str, Any], head: Mapping[str, Any], rule: ReplacementRule | None = None) -> PlanDiff:
    """Compare two plans in the ``llm-serving plan --json`` form."""
    rule = rule if rule is not None else _replacement_rule()
    old = {r["urn"]: r for r in base.get("resources", [])}
    new = {r["urn"]: r for r in head.get("resources", [])}
    changes: list[ResourceChange] = []
    for urn in sorted(set(old) | set(new)):
        before, after = old.get(urn), new.get(urn)
        if after is None:
            assert before is not None
            changes.append(ResourceChange("remove", urn, before["type"], before["name"]))
            continue
        if before is None:
            changes.append(ResourceChange("add", urn, after["type"], after["name"]))
            continue
        properties = tuple(
            PropertyChange(path, b, a, _replaces(rule, after["type"], path), _replaces_if(after["type"], path))
            for path, b, a in _leaf_changes(before.get("inputs", {}), after.get("inputs", {}))
        )
        if properties:
            kind: Kind = "replace" if any(p.replaces for p in properties) else "update"
            changes.append(ResourceChange(kind, urn, after["type"], after["name"], properties))
    return PlanDiff(
        stack=str(head.get("stack", base.get("stack", "?"))), resources=changes, findings=list(head.get("findings", []))
    )


# ------------------------------------------------------------------- planning a git ref


def load_plan(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PlanInputError(f"{path}: not a plan (`llm-serving plan STACK --json`): {e}") from None
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise PlanInputError(f"{path}: not a plan: no 'resources' list")
    return document


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PlanInputError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def plan_at_ref(ref: str, stack: str, project_dir: Path) -> dict[str, Any] | None:
    """The offline plan of ``stack`` as of git ``ref``: that revision's program with that
    revision's stack file, checked out in a temporary worktree and planned in a child
    process (with this environment's packages). None when the stack did not exist then."""
    project_dir = project_dir.resolve()
    top = Path(_git(project_dir, "rev-parse", "--show-toplevel"))
    sha = _git(project_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="llm-serving-base-") as tmp:
        tree = Path(tmp) / "base"
        _git(top, "worktree", "add", "--detach", "--quiet", str(tree), sha)
        try:
            base_project = tree / project_dir.relative_to(top)
            if not (base_project / f"Pulumi.{stack}.yaml").is_file():
                return None
            env = {**os.environ, "PYTHONPATH": str(base_project)}
            result = subprocess.run(
                [sys.executable, "-m", "infra.cli", "plan", stack, "--json"],
                cwd=base_project,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            # 0 and 1 (mandatory findings) both print the plan.
            if result.returncode not in (0, 1) or not result.stdout.strip():
                raise PlanInputError(
                    f"planning {stack} at {ref} ({sha[:12]}) failed (exit {result.returncode}):\n"
                    + result.stderr.strip()
                )
            return dict(json.loads(result.stdout))
        finally:
            _git(top, "worktree", "remove", "--force", str(tree))


def empty_plan(stack: str) -> dict[str, Any]:
    return {"stack": stack, "resources": [], "outputs": {}, "findings": []}


# ----------------------------------------------------------------------------- views


def short_type(token: str) -> str:
    from infra.render import short_type as short

    return short(token)


def _show(value: Any, limit: int = 60) -> str:
    if value is MISSING:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _note(change: ResourceChange) -> str:
    if change.kind == "replace":
        return "replaced: " + ", ".join(change.replacing_paths)
    if change.unknown_type:
        return "not in the replacement table: check `pulumi preview`"
    maybe = [c.path for c in change.changes if c.replaces_if]
    return "may be replaced: " + ", ".join(maybe) + "; `pulumi preview` decides" if maybe else ""


def to_text(diff: PlanDiff) -> str:
    """One line per resource and one per changed property, with Pulumi's marks."""
    lines = [f"stack {diff.stack}: {_counts_text(diff)}"]
    for r in diff.resources:
        note = _note(r)
        lines.append(f"{SYMBOL[r.kind]:>2} {short_type(r.type)} {r.name}" + (f"  ({note})" if note else ""))
        for c in r.changes:
            mark = f"  {c.mark}" if c.mark else ""
            if _is_long(c):
                lines.append(f"      {c.path}:{mark}")
                lines += [f"        {line}" for line in _detail(c, DETAIL_LINES)]
            else:
                lines.append(f"      {c.path}: {_show(c.before)} => {_show(c.after)}{mark}")
    if diff.mandatory_findings:
        lines.append(f"{len(diff.mandatory_findings)} mandatory policy finding(s) in {diff.head_label}")
    return "\n".join(lines) + "\n"


def _counts_text(diff: PlanDiff) -> str:
    c = diff.counts()
    if not any(c.values()):
        return "no changes"
    words = {"add": "to add", "update": "to update", "replace": "to replace", "remove": "to remove"}
    return ", ".join(f"{n} {words[k]}" for k, n in c.items() if n)


def _decoded(path: str, value: Any) -> str | None:
    """A long or structured value as lines for a unified diff: JSON documents pretty-printed,
    base64 user data decoded; None for short scalars (shown inline)."""
    if not isinstance(value, str):
        return json.dumps(value, indent=2, sort_keys=True) if isinstance(value, dict | list) else None
    if path.endswith("userData"):
        try:
            return base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            pass
    if value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), indent=2, sort_keys=True)
        except json.JSONDecodeError:
            pass
    return value if len(value) > 80 or "\n" in value else None


def _detail(change: PropertyChange, max_lines: int) -> list[str]:
    if not _is_long(change):
        return []

    def lines_of(value: Any) -> list[str]:
        if value is MISSING:
            return []
        decoded = _decoded(change.path, value)
        return (decoded if decoded is not None else _show(value, 200)).splitlines()

    lines = list(difflib.unified_diff(lines_of(change.before), lines_of(change.after), n=1, lineterm=""))[2:]
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... {len(lines) - max_lines} more lines"]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _is_long(change: PropertyChange) -> bool:
    return any(v is not MISSING and _decoded(change.path, v) is not None for v in (change.before, change.after))


def _inline(change: PropertyChange) -> str:
    return f"`{_cell(_show(change.before, 40))}` → `{_cell(_show(change.after, 40))}`"


def to_markdown(
    diff: PlanDiff, *, mermaid: str | None = None, preview: str | None = None, detail_lines: int = DETAIL_LINES
) -> str:
    """The pull-request comment of one stack: summary, replacements first, findings, the
    changes with their details folded, and the stack's diagram folded."""
    text = _markdown(diff, mermaid=mermaid, preview=preview, detail_lines=detail_lines)
    # Too long for one comment: shed the bulky parts, saying so, until it fits.
    for lines in (10, 0):
        if len(text) <= COMMENT_LIMIT:
            return text
        text = _markdown(diff, mermaid=mermaid, preview=preview, detail_lines=lines, shortened=True)
    if len(text) > COMMENT_LIMIT:
        text = _markdown(diff, mermaid=None, preview=None, detail_lines=0, shortened=True)
    if len(text) > COMMENT_LIMIT:
        cut = "\n\n… cut to fit GitHub's comment limit; the job's artifact holds the whole diff.\n"
        text = text[: COMMENT_LIMIT - len(cut)] + cut
    return text


def _markdown(
    diff: PlanDiff,
    *,
    mermaid: str | None,
    preview: str | None,
    detail_lines: int,
    shortened: bool = False,
) -> str:
    out = [MARKER.format(stack=diff.stack), f"### Stack `{diff.stack}`: {_counts_text(diff)}", ""]
    out.append(
        f"Offline plan of {diff.head_label} against {diff.base_label} (`llm-serving plan diff`): "
        "no credentials needed, so it runs for forks too."
    )
    out.append("")
    replaced = diff.of_kind("replace")
    if replaced:
        out += ["> [!CAUTION]", f"> **{len(replaced)} resource(s) will be replaced** (deleted and created again):"]
        for r in replaced:
            out.append(f"> - `{short_type(r.type)}` **{r.name}**, by {', '.join(f'`{p}`' for p in r.replacing_paths)}")
        if any(r.type == "aws:autoscaling/group:Group" for r in replaced):
            out += [
                ">",
                "> A replaced Auto Scaling group takes its instances with it: the model loses capacity "
                "until the new group's instances have loaded it.",
            ]
        out.append("")
    rolled = [r for r in diff.of_kind("update") if r.type == "aws:ec2/launchTemplate:LaunchTemplate"]
    if rolled:
        out += [
            "> [!NOTE]",
            f"> Launch template changed ({', '.join(r.name for r in rolled)}): the deploy rolls the model's "
            "instances by instance refresh, launching new ones before terminating old ones.",
            "",
        ]
    unknown = sorted({r.type for r in diff.resources if r.unknown_type})
    if unknown:
        out.append(
            "Types not in the replacement table (their changes may or may not replace): "
            + ", ".join(f"`{t}`" for t in unknown)
            + ". `pulumi preview` decides."
        )
        out.append("")
    out += _findings_markdown(diff)
    if diff.resources:
        out += ["| | resource | type | properties |", "| --- | --- | --- | --- |"]
        for r in diff.resources:
            props = ", ".join(f"`{c.path}`" + _table_mark(c) for c in r.changes[:8]) + (
                f", {len(r.changes) - 8} more" if len(r.changes) > 8 else ""
            )
            out.append(f"| `{SYMBOL[r.kind]}` {r.kind} | {r.name} | `{short_type(r.type)}` | {props} |")
        out.append("")
        details = _details_markdown(diff, detail_lines)
        if details:
            out += ["<details><summary>What changes, property by property</summary>", "", *details, "</details>", ""]
    if preview:
        out += [
            "<details><summary><code>pulumi preview</code> with the policy pack</summary>",
            "",
            preview.strip(),
            "",
            "</details>",
            "",
        ]
    if mermaid:
        out += [f"<details><summary>Diagram of stack {diff.stack}</summary>", "", mermaid.strip(), "", "</details>", ""]
    if shortened:
        out.append("_Shortened to fit GitHub's comment limit; the job's artifact and summary hold all of it._")
    return "\n".join(out).rstrip() + "\n"


def _findings_markdown(diff: PlanDiff) -> list[str]:
    if not diff.findings:
        return ["Policy findings: none.", ""]
    mandatory = len(diff.mandatory_findings)
    out = [
        f"**Policy findings: {mandatory} mandatory, {len(diff.findings) - mandatory} advisory**"
        + (" (mandatory ones fail the check)" if mandatory else ""),
        "",
        "| level | policy | resource | message |",
        "| --- | --- | --- | --- |",
    ]
    for f in sorted(
        diff.findings, key=lambda f: (f.get("level") != "mandatory", f.get("policy", ""), f.get("urn", ""))
    ):
        resource = str(f.get("urn", "")).rsplit("::", 1)[-1]
        out.append(
            f"| {f.get('level')} | `{f.get('policy')}` | {_cell(resource)} | {_cell(str(f.get('message', '')))} |"
        )
    return [*out, ""]


def _details_markdown(diff: PlanDiff, max_lines: int) -> list[str]:
    out: list[str] = []
    for r in diff.resources:
        if not r.changes:
            continue
        out.append(f"**{SYMBOL[r.kind]} {r.name}** (`{r.type}`)")
        out.append("")
        for c in r.changes:
            mark = f" — {c.mark}" if c.mark else ""
            lines = _detail(c, max_lines) if max_lines else []
            if lines:
                out += [f"- `{c.path}`{mark}:", "", "  ```diff", *(f"  {line}" for line in lines), "  ```"]
            elif _is_long(c):
                out.append(f"- `{c.path}`{mark}: changed (long value; see `llm-serving plan diff`)")
            else:
                out.append(f"- `{c.path}`{mark}: {_inline(c)}")
        out.append("")
    return out


def _table_mark(change: PropertyChange) -> str:
    if change.replaces:
        return " (**replaces**)"
    return " (**may replace**)" if change.replaces_if else ""
