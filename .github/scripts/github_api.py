#!/usr/bin/env python3
"""The GitHub API calls of the workflows: standard library only, so it runs on a bare runner
(the comment workflow never installs the project nor checks out pull-request code).

  github_api.py comment --repo O/R --head-sha SHA --artifacts DIR
      Upsert one comment per stack on the pull request named in each plan artifact, found by
      its first line (the stack's marker). Artifacts come from an unprivileged run and may
      come from a fork: the pull-request number and stack are validated, and the comment is
      only posted if that pull request's head is the commit the run planned.
  github_api.py drift-issue --repo O/R --stack S --state drift|clean [--report FILE] [--run-url URL]
      Open or update one issue per stack while it drifts; close it when the stack is clean.
  github_api.py last-good --repo O/R --environment E --exclude-sha SHA
      Print the commit of the latest deployment to E that succeeded (nothing if none).

The token is GITHUB_TOKEN (or GH_TOKEN); the API is GITHUB_API_URL (GitHub sets it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

COMMENT_LIMIT = 65_536
"""GitHub refuses a comment body longer than this (REST API, "Create an issue comment").
The same as infra/plan_diff.py's, which this script cannot import (a test keeps them equal)."""
MARKER = "<!-- llm-serving plan {stack} -->"
"""First line of a stack's comment, as infra/plan_diff.py writes it (a test keeps them equal)."""
STACK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
"""Pulumi stack names: letters, digits, '-', '_', '.'."""
DRIFT_LABEL = "drift"


class Api:
    def __init__(self, repo: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
            raise SystemExit(f"not a repository: {repo!r}")
        self.base = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/") + f"/repos/{repo}"
        self.token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN") or ""

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as e:
            raise SystemExit(f"GitHub API {method} {path}: HTTP {e.code}: {e.read().decode()[:500]}") from None
        return json.loads(text) if text else None

    def pages(self, path: str) -> list[Any]:
        """Every item of a list endpoint, 100 per page, until a short page."""
        items: list[Any] = []
        separator = "&" if "?" in path else "?"
        page = 1
        while True:
            batch = self.call("GET", f"{path}{separator}per_page=100&page={page}")
            items.extend(batch)
            if len(batch) < 100:
                return items
            page += 1


def fit(body: str) -> str:
    if len(body) <= COMMENT_LIMIT:
        return body
    cut = "\n\n… cut to fit GitHub's comment limit; the run's artifacts hold all of it.\n"
    return body[: COMMENT_LIMIT - len(cut)] + cut


def upsert_comment(api: Api, number: int, body: str) -> str:
    marker = body.splitlines()[0]
    for comment in api.pages(f"/issues/{number}/comments"):
        if str(comment.get("body", "")).splitlines()[:1] == [marker]:
            api.call("PATCH", f"/issues/comments/{comment['id']}", {"body": body})
            return "updated"
    api.call("POST", f"/issues/{number}/comments", {"body": body})
    return "created"


def comment(args: argparse.Namespace) -> int:
    api = Api(args.repo)
    root = Path(args.artifacts)
    plans = sorted(p for p in root.glob("plan-*") if p.is_dir())
    if not plans:
        print("no plan artifacts: nothing to comment", file=sys.stderr)
        return 1
    for folder in plans:
        stack = (folder / "stack").read_text().strip()
        number_text = (folder / "pr-number").read_text().strip()
        if not STACK.fullmatch(stack) or not number_text.isdigit():
            raise SystemExit(f"{folder.name}: invalid stack or pull-request number")
        number = int(number_text)
        pull = api.call("GET", f"/pulls/{number}")
        if pull["head"]["sha"] != args.head_sha:
            print(f"pull request #{number} has moved on from {args.head_sha[:12]}: not commenting", file=sys.stderr)
            continue
        body = (folder / "comment.md").read_text()
        marker = MARKER.format(stack=stack)
        if body.splitlines()[:1] != [marker]:
            raise SystemExit(f"{folder.name}: the comment does not start with {marker}")
        preview = root / f"preview-{stack}" / "preview.md"
        if preview.is_file():
            body = (
                body.rstrip()
                + "\n\n<details><summary><code>pulumi preview</code> with the policy pack</summary>\n\n"
                + preview.read_text().strip()
                + "\n\n</details>\n"
            )
        print(f"stack {stack}: comment {upsert_comment(api, number, fit(body))} on #{number}")
    return 0


def drift_issue(args: argparse.Namespace) -> int:
    api = Api(args.repo)
    if not STACK.fullmatch(args.stack):
        raise SystemExit(f"not a stack name: {args.stack!r}")
    title = f"Drift in stack {args.stack}"
    issues = [
        i
        for i in api.pages(f"/issues?state=open&labels={DRIFT_LABEL}")
        if i.get("title") == title and "pull_request" not in i
    ]
    report = Path(args.report).read_text() if args.report and Path(args.report).is_file() else ""
    run = f"\n\nFound by {args.run_url}" if args.run_url else ""
    if args.state == "drift":
        body = fit(
            f"`{args.stack}` differs from its program (`llm-serving drift {args.stack}`).{run}\n\n{report}\n\n"
            "Fix it by deploying the program again (`llm-serving up`), or change the program to match."
        )
        if issues:
            api.call("PATCH", f"/issues/{issues[0]['number']}", {"body": body})
            print(f"updated issue #{issues[0]['number']}")
        else:
            created = api.call("POST", "/issues", {"title": title, "body": body, "labels": [DRIFT_LABEL]})
            print(f"opened issue #{created['number']}")
        return 0
    for issue in issues:
        api.call("POST", f"/issues/{issue['number']}/comments", {"body": f"No drift any more.{run}"})
        api.call("PATCH", f"/issues/{issue['number']}", {"state": "closed"})
        print(f"closed issue #{issue['number']}")
    return 0


def last_good(args: argparse.Namespace) -> int:
    """Deployments are listed newest first; an earlier success later marked inactive by a
    newer deployment still counts: it was good when it ran."""
    api = Api(args.repo)
    for deployment in api.pages(f"/deployments?environment={args.environment}"):
        if deployment["sha"] == args.exclude_sha:
            continue
        states = {s["state"] for s in api.pages(f"/deployments/{deployment['id']}/statuses")}
        if "success" in states:
            print(deployment["sha"])
            return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("comment")
    c.add_argument("--repo", required=True)
    c.add_argument("--head-sha", required=True)
    c.add_argument("--artifacts", required=True)
    d = commands.add_parser("drift-issue")
    d.add_argument("--repo", required=True)
    d.add_argument("--stack", required=True)
    d.add_argument("--state", choices=["drift", "clean"], required=True)
    d.add_argument("--report")
    d.add_argument("--run-url")
    g = commands.add_parser("last-good")
    g.add_argument("--repo", required=True)
    g.add_argument("--environment", required=True)
    g.add_argument("--exclude-sha", required=True)
    args = parser.parse_args(argv)
    return {"comment": comment, "drift-issue": drift_issue, "last-good": last_good}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
