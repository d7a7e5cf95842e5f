"""Stack and project files as users write them: what the Pulumi CLI would refuse or silently
misread is refused by the offline plan too, with the file, line or key and the fix, and never
a Python traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from infra.plan import StackFileError, read_stack_config
from tests.helpers import ROOT


def project(tmp_path: Path, stack_text: str, project_text: str = "name: llm-serving\n") -> Path:
    (tmp_path / "Pulumi.yaml").write_text(project_text)
    (tmp_path / "Pulumi.s.yaml").write_text(textwrap.dedent(stack_text))
    return tmp_path


def refused(tmp_path: Path) -> list[str]:
    with pytest.raises(StackFileError) as e:
        read_stack_config("s", tmp_path)
    return str(e.value).splitlines()


def test_a_model_block_pasted_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    # PyYAML keeps the last `chat:` silently: the first model would vanish from the stack.
    project(
        tmp_path,
        """\
        config:
          llm-serving:models:
            chat:
              modelId: a/b
            chat:
              modelId: c/d
        """,
    )
    assert refused(tmp_path) == [
        "Pulumi.s.yaml line 5: llm-serving:models.chat is defined twice (first on line 3): YAML keeps only "
        "the last one, so the first would be silently dropped; merge them or rename one"
    ]


def test_a_config_key_given_twice_is_refused(tmp_path: Path) -> None:
    project(tmp_path, "config:\n  llm-serving:workerImage: a\n  aws:region: us-east-1\n  llm-serving:workerImage: b\n")
    [line] = refused(tmp_path)
    assert line.startswith("Pulumi.s.yaml line 4: llm-serving:workerImage is defined twice (first on line 2)")


def test_duplicate_keys_inside_a_list_item_are_refused(tmp_path: Path) -> None:
    project(tmp_path, "config:\n  demo:items:\n    - a: 1\n      a: 2\n")
    [line] = refused(tmp_path)
    assert line.startswith("Pulumi.s.yaml line 4: demo:items[0].a is defined twice")


def test_a_misspelt_top_level_key_is_reported_as_such(tmp_path: Path) -> None:
    project(tmp_path, "confg:\n  llm-serving:workerImage: a\n")
    assert refused(tmp_path) == [
        "Pulumi.s.yaml: unknown top-level key 'confg': did you mean config? valid keys are config, "
        "secretsprovider, encryptedkey, encryptionsalt, environment"
    ]


def test_the_stack_settings_keys_pulumi_writes_are_accepted(tmp_path: Path) -> None:
    project(tmp_path, "secretsprovider: passphrase\nencryptionsalt: v1:abc\nconfig:\n  aws:region: eu-west-1\n")
    assert read_stack_config("s", tmp_path) == ({"aws:region": "eu-west-1"}, [])


@pytest.mark.parametrize(
    ("stack_text", "message"),
    [
        ("config:\n  - aws:region\n", "Pulumi.s.yaml: config must be a mapping of keys to values, not a list"),
        ("config: us-east-1\n", "Pulumi.s.yaml: config must be a mapping of keys to values, not a string"),
        ("- config\n", "Pulumi.s.yaml must be a mapping with a 'config:' key, not a list"),
        (
            "config:\n  123: x\n",
            "Pulumi.s.yaml: config key 123 must be a string such as llm-serving:models (quote it if YAML "
            "reads it as a number or a boolean)",
        ),
        ("config:\n  true: x\n", "Pulumi.s.yaml: config key True must be a string"),
        ("config:\n  aws:region: [unclosed\n", "Pulumi.s.yaml is not valid YAML"),
    ],
    ids=["config-list", "config-string", "document-list", "number-key", "boolean-key", "bad-yaml"],
)
def test_malformed_stack_files_name_the_problem(tmp_path: Path, stack_text: str, message: str) -> None:
    project(tmp_path, stack_text)
    [line] = refused(tmp_path)
    assert line.startswith(message)


@pytest.mark.parametrize(
    ("project_text", "message"),
    [
        (None, "no Pulumi.yaml in"),
        ("description: no name\n", "Pulumi.yaml needs a project name: a line such as `name: llm-serving`"),
        ("- name\n", "Pulumi.yaml needs a project name"),
        ("name: [a]\n", "Pulumi.yaml needs a project name"),
        ("name: a\nname: b\n", "Pulumi.yaml line 2: name is defined twice (first on line 1)"),
    ],
    ids=["missing", "nameless", "list", "name-not-text", "name-twice"],
)
def test_a_missing_or_nameless_project_file_is_named(tmp_path: Path, project_text: str | None, message: str) -> None:
    project(tmp_path, "config: {}\n")
    if project_text is None:
        (tmp_path / "Pulumi.yaml").unlink()
    else:
        (tmp_path / "Pulumi.yaml").write_text(project_text)
    [line] = refused(tmp_path)
    assert line.startswith(message)


@pytest.mark.parametrize(
    "stack_text",
    ["config:\n  - aws:region\n", "config:\n  123: x\n", "confg: {}\n", "config:\n  a:b: 1\n  a:b: 2\n"],
    ids=["config-list", "number-key", "typo", "duplicate"],
)
def test_the_cli_exits_2_without_a_traceback_on_a_malformed_file(tmp_path: Path, stack_text: str) -> None:
    project(tmp_path, stack_text)
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "s", "--project-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: Pulumi.s.yaml")
    assert "Traceback" not in result.stderr
