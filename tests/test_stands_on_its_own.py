"""The repository stands on its own: nothing in it points to the team's private notes, which
a user of the repository does not have (facts live in docs/reference.md, with sources)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers import ROOT

# Built from parts so that this file does not match itself.
PRIVATE = re.compile("|".join(["REFER" + r"ENCE\.md", "DES" + r"IGN\.md", r"\.\./" + "shared"]))


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    paths = [ROOT / n for n in names.splitlines() if n != "uv.lock"]
    return [p for p in paths if p.is_file() and b"\0" not in p.read_bytes()[:4096]]


def test_no_file_cites_the_teams_private_notes() -> None:
    files = tracked_text_files()
    assert len(files) > 100  # the whole repository was read
    citing = [str(p.relative_to(ROOT)) for p in files if PRIVATE.search(p.read_text(errors="replace"))]
    assert citing == []


def test_the_check_sees_a_citation() -> None:
    assert PRIVATE.search("see " + "REFER" + "ENCE.md#ec2")
    assert PRIVATE.search("../" + "shared/notes/eks.md")
