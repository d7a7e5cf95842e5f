"""`.github/scripts/github_api.py` against a fake GitHub API on loopback: comments upserted
by marker across pages, forged artifacts refused, drift issues opened, updated and closed,
the last good deployment found."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import ROOT

SPEC = importlib.util.spec_from_file_location("github_api", ROOT / ".github" / "scripts" / "github_api.py")
assert SPEC is not None and SPEC.loader is not None
github_api = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(github_api)

REPO = "acme/llm"
HEAD = "a" * 40


class FakeGitHub:
    """Routes of the REST API the script uses, over in-memory data; records every call."""

    def __init__(self) -> None:
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.issues: list[dict[str, Any]] = []
        self.pulls: dict[int, str] = {}
        self.deployments: list[dict[str, Any]] = []
        self.statuses: dict[int, list[str]] = {}
        self.calls: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.calls.append((self.command, url.path))
                status, answer = fake.answer(self.command, url.path.removeprefix(f"/repos/{REPO}"), query, body)
                self._send(status, answer)

            do_GET = do_POST = do_PATCH = _route

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def page(items: list[Any], query: dict[str, str]) -> list[Any]:
        size, number = int(query.get("per_page", 30)), int(query.get("page", 1))
        return items[(number - 1) * size : number * size]

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[0] == "pulls":
            return 200, {"number": int(parts[1]), "head": {"sha": self.pulls[int(parts[1])]}}
        if parts[:1] == ["issues"] and len(parts) == 3 and parts[1] == "comments" and method == "PATCH":
            for comments in self.comments.values():
                for c in comments:
                    if c["id"] == int(parts[2]):
                        c["body"] = body["body"]
            return 200, {}
        if parts[:1] == ["issues"] and len(parts) == 3 and parts[2] == "comments":
            comments = self.comments.setdefault(int(parts[1]), [])
            if method == "POST":
                comments.append({"id": 1000 + len(comments), "body": body["body"]})
                return 201, comments[-1]
            return 200, self.page(comments, query)
        if parts == ["issues"] and method == "POST":
            issue = {"number": 500 + len(self.issues), "state": "open", **body}
            self.issues.append(issue)
            return 201, issue
        if parts == ["issues"]:
            found = [i for i in self.issues if i["state"] == query["state"] and query["labels"] in i["labels"]]
            return 200, self.page(found, query)
        if parts[0] == "issues" and method == "PATCH":
            [issue] = [i for i in self.issues if i["number"] == int(parts[1])]
            issue.update(body)
            return 200, issue
        if parts == ["deployments"]:
            return 200, self.page([d for d in self.deployments if d["environment"] == query["environment"]], query)
        if parts[0] == "deployments":
            return 200, self.page([{"state": s} for s in self.statuses[int(parts[1])]], query)
        return 404, {"message": f"no route {method} {path}"}

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    yield fake
    fake.close()


def artifact(root: Path, stack: str, number: str, body: str | None = None, preview: str | None = None) -> None:
    folder = root / f"plan-{stack}"
    folder.mkdir(parents=True)
    (folder / "stack").write_text(stack + "\n")
    (folder / "pr-number").write_text(number + "\n")
    (folder / "comment.md").write_text(
        body if body is not None else f"<!-- llm-serving plan {stack} -->\n### {stack}\n"
    )
    if preview is not None:
        (root / f"preview-{stack}").mkdir()
        (root / f"preview-{stack}" / "preview.md").write_text(preview)


def comment(root: Path) -> int:
    return int(github_api.main(["comment", "--repo", REPO, "--head-sha", HEAD, "--artifacts", str(root)]))


def test_creates_one_comment_per_stack_then_updates_it_even_past_the_first_page(
    github: FakeGitHub, tmp_path: Path
) -> None:
    github.pulls[7] = HEAD
    github.comments[7] = [{"id": i, "body": f"chatter {i}"} for i in range(130)]
    artifact(tmp_path / "1", "dev", "7")
    artifact(tmp_path / "1", "prod", "7", preview="**pulumi preview of prod: passed**")

    assert comment(tmp_path / "1") == 0
    ours = [c for c in github.comments[7] if c["body"].startswith("<!-- llm-serving plan")]
    assert [c["body"].splitlines()[0] for c in ours] == [
        "<!-- llm-serving plan dev -->",
        "<!-- llm-serving plan prod -->",
    ]
    assert "**pulumi preview of prod: passed**" in ours[1]["body"]

    artifact(tmp_path / "2", "dev", "7", body="<!-- llm-serving plan dev -->\n### dev, second push\n")
    assert comment(tmp_path / "2") == 0

    assert len(github.comments[7]) == 132
    assert github.comments[7][130]["body"].endswith("second push\n")
    assert ("PATCH", f"/repos/{REPO}/issues/comments/1130") in github.calls


def test_does_not_comment_when_the_pull_request_has_moved_on(github: FakeGitHub, tmp_path: Path) -> None:
    github.pulls[7] = "b" * 40
    artifact(tmp_path, "dev", "7")
    comment(tmp_path)
    assert github.comments.get(7, []) == []


@pytest.mark.parametrize(("stack", "number"), [("dev", "7; rm -rf /"), ("../etc", "7")])
def test_refuses_a_forged_artifact(github: FakeGitHub, tmp_path: Path, stack: str, number: str) -> None:
    folder = tmp_path / "plan-x"
    folder.mkdir()
    (folder / "stack").write_text(stack)
    (folder / "pr-number").write_text(number)
    (folder / "comment.md").write_text("hello")
    with pytest.raises(SystemExit, match="invalid stack or pull-request number"):
        comment(tmp_path)


def test_refuses_a_comment_without_its_stack_marker(github: FakeGitHub, tmp_path: Path) -> None:
    github.pulls[7] = HEAD
    artifact(tmp_path, "dev", "7", body="<!-- llm-serving plan prod -->\nspoofed\n")
    with pytest.raises(SystemExit, match="does not start with"):
        comment(tmp_path)


def test_a_comment_over_the_limit_is_cut_to_fit() -> None:
    assert len(github_api.fit("x" * 70_000)) == github_api.COMMENT_LIMIT


def drift(state: str, report: Path | None = None) -> None:
    args = ["drift-issue", "--repo", REPO, "--stack", "dev", "--state", state, "--run-url", "https://ci/run/1"]
    github_api.main([*args, *(["--report", str(report)] if report else [])])


def test_drift_opens_one_issue_updates_it_and_closes_it_when_clean(github: FakeGitHub, tmp_path: Path) -> None:
    report = tmp_path / "drift.md"
    report.write_text("**Drift check of dev: drift** (1 to update)")

    drift("drift", report)
    drift("drift", report)

    [issue] = github.issues
    assert (issue["title"], issue["labels"], issue["state"]) == ("Drift in stack dev", ["drift"], "open")
    assert "(1 to update)" in issue["body"] and "https://ci/run/1" in issue["body"]

    drift("clean")

    assert issue["state"] == "closed"
    assert github.comments[issue["number"]][0]["body"].startswith("No drift any more.")


def test_last_good_is_the_newest_other_deployment_that_succeeded(
    github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    github.deployments = [
        {"id": 4, "sha": HEAD, "environment": "dev"},  # this run's own deployment
        {"id": 3, "sha": "c" * 40, "environment": "dev"},  # failed
        {"id": 2, "sha": "d" * 40, "environment": "prod"},
        {"id": 1, "sha": "e" * 40, "environment": "dev"},  # succeeded, then superseded
    ]
    github.statuses = {4: ["in_progress"], 3: ["failure", "in_progress"], 1: ["inactive", "success", "in_progress"]}

    github_api.main(["last-good", "--repo", REPO, "--environment", "dev", "--exclude-sha", HEAD])

    assert capsys.readouterr().out.strip() == "e" * 40


def test_last_good_prints_nothing_when_nothing_succeeded(
    github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    github_api.main(["last-good", "--repo", REPO, "--environment", "dev", "--exclude-sha", HEAD])
    assert capsys.readouterr().out == ""


def test_the_script_and_plan_diff_agree_on_the_comment_limit_and_the_stack_marker() -> None:
    """The script stays standard-library only, so it keeps its own copies of what
    infra/plan_diff.py writes the comment with: they must not drift apart."""
    from infra import plan_diff

    assert github_api.COMMENT_LIMIT == plan_diff.COMMENT_LIMIT
    assert github_api.MARKER == plan_diff.MARKER
    assert github_api.MARKER.format(stack="dev") == "<!-- llm-serving plan dev -->"
