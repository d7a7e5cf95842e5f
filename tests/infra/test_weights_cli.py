"""``llm-serving weights stage`` and ``weights prune``.

Staging locally runs end to end as a real process (``python -m infra.cli``) against a fake
Hugging Face Hub and moto's S3. The ``--in-aws`` path runs against botocore's Stubber, which
checks every request against the CodeBuild and CloudWatch Logs API models: moto's CodeBuild
ignores a build's environment overrides, reports every build SUCCEEDED at once, never sets
``buildComplete`` and names no log stream, so it cannot show a log streamed back or a failed
build. Pruning runs against moto's S3."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.stub import Stubber
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "model_server"))
from fake_hub import FakeHub, FakeRepo

from infra import cli, weights
from model_server.weights import layout
from tests.helpers import ROOT

REGION = "us-east-1"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLD_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
MODEL_ID = "meta-llama/Llama-3.1-8B-Instruct"  # in the model catalog: the stack file needs no shape
PROJECT = "llm-test-weights-project-0a1b2c3"


def project_dir(tmp_path: Path) -> Path:
    """A project with a stack ``test``: the dev stack with two models, ``chat`` staged in S3
    and ``draft`` loaded from the Hub."""
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    chat = stack["config"]["llm-serving:models"]["chat"]
    chat.update(modelId=MODEL_ID, revision=COMMIT, weights={"source": "s3"})
    draft = {**chat, "revision": OLD_COMMIT, "weights": {"source": "hub"}}
    stack["config"]["llm-serving:models"] = {"chat": chat, "draft": draft}
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.test.yaml").write_text(yaml.safe_dump(stack))
    return tmp_path


@pytest.fixture(scope="module")
def hub_server() -> Iterator[FakeHub]:
    fake = FakeHub()
    yield fake
    fake.close()


@pytest.fixture
def hub(hub_server: FakeHub) -> Iterator[FakeHub]:
    hub_server.add(FakeRepo(MODEL_ID, COMMIT, {"config.json": b'{"a": 1}\n', "model.safetensors": os.urandom(50_000)},
                            lfs=frozenset({"model.safetensors"})))  # fmt: skip
    yield hub_server
    hub_server.reset()


@pytest.fixture
def env(moto_url: str, hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_XET": "1",
        "TMPDIR": str(tmp_path),
    }
    return {**{k: v for k, v in os.environ.items() if k != "HF_TOKEN"}, **values}


@pytest.fixture
def s3(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(key, env[key])
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"weights-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "weights", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def keys(s3: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


# ----------------------------------------------------------------------------- stage, locally


def test_stage_copies_the_models_from_s3_end_to_end(
    env: dict[str, str], s3: Any, bucket: str, tmp_path: Path, hub: FakeHub
) -> None:
    project = project_dir(tmp_path)
    result = run(env, "stage", "test", "--bucket", bucket, "--project-dir", str(project))
    assert result.returncode == 0, result.stderr
    prefix = layout.prefix(MODEL_ID, COMMIT)
    assert keys(s3, bucket) == {prefix + "config.json", prefix + "model.safetensors", prefix + layout.MARKER}
    body = s3.get_object(Bucket=bucket, Key=prefix + "model.safetensors")["Body"].read()
    assert body == hub.repos[MODEL_ID].files["model.safetensors"]
    assert result.stdout.splitlines()[0] == f"chat: {MODEL_ID} at {COMMIT} -> s3://{bucket}/{prefix}"
    assert "draft" not in result.stdout  # its weights come from the Hub

    again = run(env, "stage", "test", "--bucket", bucket, "--project-dir", str(project))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1].startswith(f"already complete: s3://{bucket}/{prefix}")


def test_stage_takes_the_bucket_from_the_stacks_outputs(
    env: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"weightsBucket": bucket}))
    result = run(env, "stage", "test", "chat", "--outputs", str(outputs), "--project-dir", str(project_dir(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert layout.marker_key(MODEL_ID, COMMIT) in keys(s3, bucket)


def test_a_named_model_is_staged_whatever_its_source(env: dict[str, str], bucket: str, tmp_path: Path) -> None:
    result = run(env, "stage", "test", "draft", "--bucket", bucket, "--project-dir", str(project_dir(tmp_path)))
    # draft pins a revision the (fake) Hub does not have: the stager tried it, and says so in one line.
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: draft: revision {OLD_COMMIT} is not a commit of {MODEL_ID} on the Hub: pin a commit listed at "
        f"{env['HF_ENDPOINT']}/{MODEL_ID}/commits/main (models.<name>.revision)"
    ]


def test_an_unknown_model_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    result = run(env, "stage", "test", "nope", "--bucket", "b", "--project-dir", str(project_dir(tmp_path)))
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: no model 'nope' in Pulumi.test.yaml; its models: chat, draft"]


def test_without_a_bucket_or_outputs_it_says_what_to_pass(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    result = run(env, "stage", "test", "--outputs", str(missing), "--project-dir", str(project_dir(tmp_path)))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot read {missing}")


def test_a_stack_without_s3_models_has_nothing_to_stage(tmp_path: Path) -> None:
    targets = weights.stage_targets(weights.load_config("dev", ROOT)[0], "dev", None)
    assert targets == []  # dev loads from the Hub (not production, no weights.source)


# ----------------------------------------------------------------------------- stage, in AWS


def stubbed_clients(builds: list[dict[str, Any]], events: list[list[str]]) -> tuple[Any, Any, Stubber, Stubber]:
    """CodeBuild answering StartBuild then each of ``builds`` in turn, and Logs answering
    each GetLogEvents with the next list of ``events``."""
    codebuild = boto3.client("codebuild", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    logs = boto3.client("logs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    build_stub, logs_stub = Stubber(codebuild), Stubber(logs)
    build_id = f"{PROJECT}:1f2e3d4c"
    build_stub.add_response(
        "start_build",
        {"build": {"id": build_id, "buildStatus": "IN_PROGRESS", "buildComplete": False}},
        {
            "projectName": PROJECT,
            "environmentVariablesOverride": [
                {"name": "MODEL_ID", "value": MODEL_ID, "type": "PLAINTEXT"},
                {"name": "REVISION", "value": COMMIT, "type": "PLAINTEXT"},
            ],
        },
    )
    token = 0
    for build in builds:
        build_stub.add_response("batch_get_builds", {"builds": [{"id": build_id, **build}]}, {"ids": [build_id]})
    for batch in events:
        request: dict[str, Any] = {"logGroupName": "/llm-serving/x", "logStreamName": "s1", "startFromHead": True}
        if token:
            request["nextToken"] = f"f/{token}"
        answer = {
            "events": [{"timestamp": 1, "message": m + "\n"} for m in batch],
            "nextForwardToken": f"f/{token + 1}",
        }
        if not batch:
            answer["nextForwardToken"] = f"f/{token}"  # nothing newer: the same token back
        logs_stub.add_response("get_log_events", answer, request)
        token += 1 if batch else 0
    build_stub.activate()
    logs_stub.activate()
    return codebuild, logs, build_stub, logs_stub


LOGS = {"groupName": "/llm-serving/x", "streamName": "s1"}


def invoke_in_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, codebuild: Any, logs: Any, *extra: str) -> Any:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"weightsBucket": "b", "weightsStagingProject": PROJECT}))
    monkeypatch.setattr(cli, "_aws_client", lambda service, region: {"codebuild": codebuild, "logs": logs}[service])
    monkeypatch.setattr(weights, "BUILD_POLL_SECONDS", 0.0)  # the log's tail is read at this pace too
    args = [
        "weights",
        "stage",
        "test",
        "--in-aws",
        "--outputs",
        str(outputs),
        "--project-dir",
        str(project_dir(tmp_path)),
        *extra,
    ]
    return CliRunner().invoke(cli.app, args)


def test_in_aws_starts_a_build_streams_its_log_and_succeeds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    codebuild, logs, build_stub, logs_stub = stubbed_clients(
        builds=[
            {"buildStatus": "IN_PROGRESS", "buildComplete": False},  # provisioning: no log stream yet
            {"buildStatus": "IN_PROGRESS", "buildComplete": False, "logs": LOGS},
            {"buildStatus": "SUCCEEDED", "buildComplete": True, "logs": LOGS},
        ],
        events=[["staging ...", "progress: 1.00 GB of 2.00 GB (50%)"], [], ["complete: ..."], [], [], []],
    )
    result = invoke_in_aws(monkeypatch, tmp_path, codebuild, logs)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"chat: started build {PROJECT}:1f2e3d4c of {PROJECT} (stop it with `aws codebuild stop-build --id "
        f"{PROJECT}:1f2e3d4c`)",
        "staging ...",
        "progress: 1.00 GB of 2.00 GB (50%)",
        "complete: ...",
        f"chat: build {PROJECT}:1f2e3d4c SUCCEEDED",
    ]
    build_stub.assert_no_pending_responses()
    logs_stub.assert_no_pending_responses()


def test_in_aws_a_failed_build_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    codebuild, logs, *_ = stubbed_clients(
        builds=[{"buildStatus": "FAILED", "buildComplete": True, "logs": LOGS}],
        events=[["error: acme/x is gated and HF_TOKEN is not set: ..."], [], [], []],
    )
    result = invoke_in_aws(monkeypatch, tmp_path, codebuild, logs)
    assert result.exit_code == 1
    assert "error: acme/x is gated and HF_TOKEN is not set: ..." in result.output
    assert "staging failed in AWS for chat (FAILED): the build log above says why" in result.output


def test_in_aws_refuses_another_bucket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    codebuild, logs, build_stub, _ = stubbed_clients(builds=[], events=[])
    result = invoke_in_aws(monkeypatch, tmp_path, codebuild, logs, "--bucket", "elsewhere")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: --bucket does not go with --in-aws: the staging task's role may write only the weights bucket of "
        "test; drop --bucket, or stage into elsewhere without --in-aws"
    ]
    with pytest.raises(AssertionError):
        build_stub.assert_no_pending_responses()  # StartBuild was never called


class LaggingLogs:
    """CloudWatch Logs whose events become readable ``lag`` seconds after the build completes,
    on a clock that only ``sleep`` moves."""

    class exceptions:  # the shape of a boto3 client's ``exceptions``
        ResourceNotFoundException = type("ResourceNotFoundException", (Exception,), {})

    def __init__(self, lines: list[tuple[float, str]]) -> None:
        self.lines = lines
        self.now = 0.0
        self.reads: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        self.reads.append(self.now)
        start = int(request.get("nextToken", "f/0").removeprefix("f/"))
        visible = [m for at, m in self.lines if at <= self.now]
        return {
            "events": [{"timestamp": 1, "message": m} for m in visible[start:]],
            "nextForwardToken": f"f/{len(visible)}",
        }


def complete_build() -> Any:
    codebuild = boto3.client("codebuild", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(codebuild)
    build_id = f"{PROJECT}:1f2e3d4c"
    stub.add_response("start_build", {"build": {"id": build_id}})
    stub.add_response(
        "batch_get_builds",
        {"builds": [{"id": build_id, "buildStatus": "SUCCEEDED", "buildComplete": True, "logs": LOGS}]},
    )
    stub.activate()
    return codebuild


TARGET = weights.StageTarget("chat", MODEL_ID, COMMIT)


def test_in_aws_reads_the_log_until_it_is_quiet_after_the_build_completes() -> None:
    logs = LaggingLogs([(0.0, "copying ..."), (3.0, "complete: s3://b/...")])  # the last line lags 3 s
    out: list[str] = []
    status = weights.stage_in_aws(
        complete_build(), logs, PROJECT, TARGET, out.append, sleep=logs.sleep, clock=logs.clock
    )
    assert status == "SUCCEEDED"
    assert out[1:] == ["copying ...", "complete: s3://b/...", f"chat: build {PROJECT}:1f2e3d4c SUCCEEDED"]
    # After the late line, two reads a poll apart brought nothing: then it stopped.
    assert logs.reads[-2:] == [10.0, 15.0] and logs.now == 15.0


def test_in_aws_stops_reading_a_log_that_never_goes_quiet() -> None:
    logs = LaggingLogs([(t, f"line {t:g}") for t in range(0, 100)])
    out: list[str] = []
    weights.stage_in_aws(complete_build(), logs, PROJECT, TARGET, out.append, sleep=logs.sleep, clock=logs.clock)
    assert logs.now == weights.LOG_TAIL_SECONDS
    assert out[-2:] == [
        "chat: the log may go on in CloudWatch Logs: /llm-serving/x s1",
        f"chat: build {PROJECT}:1f2e3d4c SUCCEEDED",
    ]


DENIED = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: {}"
BUILD = f"{PROJECT}:1f2e3d4c"
WATCH = f"build {BUILD} keeps running: watch it with `aws codebuild batch-get-builds --ids {BUILD}`"


def test_in_aws_a_denied_start_is_one_line_naming_the_rights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    codebuild, logs, build_stub, _ = stubbed_clients(builds=[], events=[])
    build_stub.deactivate()
    build_stub = Stubber(codebuild)
    build_stub.add_client_error(
        "start_build", "AccessDeniedException", DENIED.format("codebuild:StartBuild"), http_status_code=400
    )
    build_stub.activate()
    result = invoke_in_aws(monkeypatch, tmp_path, codebuild, logs)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"error: chat: codebuild:StartBuild of {PROJECT} was denied (AccessDeniedException: "
        f"{DENIED.format('codebuild:StartBuild')}): the caller needs the weightsStagingStartPolicy output's rights"
    ]


def test_in_aws_without_credentials_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class NoCredentials:
        def start_build(self, **_: Any) -> dict[str, Any]:
            raise NoCredentialsError()

    result = invoke_in_aws(monkeypatch, tmp_path, NoCredentials(), None)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"error: chat: codebuild:StartBuild of {PROJECT}: no AWS credentials: configure them (`aws configure`, "
        "AWS_PROFILE, or the CI role)"
    ]


def test_in_aws_a_log_denied_mid_build_says_the_build_goes_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    codebuild, logs, _, logs_stub = stubbed_clients(
        builds=[{"buildStatus": "IN_PROGRESS", "buildComplete": False, "logs": LOGS}], events=[]
    )
    logs_stub.deactivate()
    logs_stub = Stubber(logs)
    logs_stub.add_client_error("get_log_events", "AccessDeniedException", DENIED.format("logs:GetLogEvents"))
    logs_stub.activate()
    result = invoke_in_aws(monkeypatch, tmp_path, codebuild, logs)
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == [
        f"error: chat: logs:GetLogEvents of /llm-serving/x s1 was denied (AccessDeniedException: "
        f"{DENIED.format('logs:GetLogEvents')}): the caller needs the weightsStagingStartPolicy output's rights; "
        + WATCH
    ]


def test_in_aws_a_failed_poll_says_the_build_goes_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    codebuild, logs, build_stub, _ = stubbed_clients(builds=[], events=[])
    build_stub.add_client_error("batch_get_builds", "ThrottlingException", "Rate exceeded")
    result = invoke_in_aws(monkeypatch, tmp_path, codebuild, logs)
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == [
        f"error: chat: codebuild:BatchGetBuilds of {BUILD} failed (ThrottlingException: Rate exceeded): fix what "
        f"AWS names, then rerun; {WATCH}"
    ]


def test_in_aws_a_log_denied_after_the_build_still_reports_its_status() -> None:
    logs = boto3.client("logs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(logs)
    stub.add_client_error("get_log_events", "AccessDeniedException", "no")
    stub.activate()
    out: list[str] = []
    assert weights.stage_in_aws(complete_build(), logs, PROJECT, TARGET, out.append) == "SUCCEEDED"
    assert out[1:] == [
        "chat: the rest of the log is not shown: logs:GetLogEvents of /llm-serving/x s1 was denied "
        "(AccessDeniedException: no): the caller needs the weightsStagingStartPolicy output's rights",
        f"chat: build {BUILD} SUCCEEDED",
    ]


# ----------------------------------------------------------------------------- prune


def put(s3: Any, bucket: str, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 1000)


def deployed_outputs(tmp_path: Path, bucket: str, **uris: str) -> str:
    """An outputs file as `pulumi stack output --json` writes it, naming the models' weights."""
    outputs = tmp_path / "outputs.json"
    models = {name: {"weights": {"source": "s3", "uri": uri}} for name, uri in uris.items()}
    outputs.write_text(json.dumps({"weightsBucket": bucket, "models": models}))
    return str(outputs)


def test_prune_lists_unused_revisions_and_deletes_only_with_yes(
    env: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    used, unused = layout.prefix(MODEL_ID, COMMIT), "acme/retired/" + "f" * 40 + "/"
    draft = layout.prefix(MODEL_ID, OLD_COMMIT)  # from the Hub today, but named by the stack file: kept
    # The stack file moved chat to COMMIT and it was staged, but the deployed stack still reads this one.
    deployed = layout.prefix(MODEL_ID, "d" * 40)
    staging = "acme/new/" + "e" * 40 + "/"  # no marker yet and just written: a stage in progress
    put(s3, bucket, used + "a.safetensors", used + layout.MARKER, draft + "a.bin", unused + "a.safetensors",
        unused + layout.MARKER, "README.txt", deployed + "a.safetensors", deployed + layout.MARKER,
        staging + "a.safetensors")  # fmt: skip
    project = str(project_dir(tmp_path))
    outputs = deployed_outputs(tmp_path, bucket, chat=f"s3://{bucket}/{deployed}")
    listed = run(env, "prune", "test", "--outputs", outputs, "--project-dir", project)
    assert listed.returncode == 0, listed.stderr
    assert f"unused: s3://{bucket}/{unused}  2 objects, 0.00 GB, complete" in listed.stdout
    assert f"deployed, kept: s3://{bucket}/{deployed}  the deployed stack reads it" in listed.stdout
    assert f"in progress, kept: s3://{bucket}/{staging}  no marker yet, last written 20" in listed.stdout
    assert "1 objects outside <modelId>/<revision>/ prefixes are left alone (e.g. README.txt)" in listed.stdout
    assert "llm-serving weights prune test --yes" in listed.stdout
    assert "rollout wait test" in listed.stdout
    assert len(keys(s3, bucket)) == 9

    deleted = run(env, "prune", "test", "--outputs", outputs, "--project-dir", project, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    kept = {used + "a.safetensors", used + layout.MARKER, draft + "a.bin", "README.txt", staging + "a.safetensors"}
    assert keys(s3, bucket) == kept | {deployed + "a.safetensors", deployed + layout.MARKER}


def test_prune_without_the_deployed_outputs_refuses_unless_told(
    env: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    unused = "acme/retired/" + "f" * 40 + "/"
    put(s3, bucket, unused + layout.MARKER)
    project = str(project_dir(tmp_path))
    missing = tmp_path / "missing.json"
    refused = run(env, "prune", "test", "--bucket", bucket, "--outputs", str(missing), "--project-dir", project)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"error: prune keeps the revisions the deployed stack reads, and cannot read the outputs of test (cannot "
        f"read {missing}: No such file or directory): pass --outputs FILE holding `pulumi stack output --json -s "
        "test`, or run where the Pulumi CLI can read the stack; --ignore-deployed goes by Pulumi.test.yaml alone"
    ]
    listed = run(env, "prune", "test", "--bucket", bucket, "--ignore-deployed", "--project-dir", project)
    assert listed.returncode == 0, listed.stderr
    assert f"unused: s3://{bucket}/{unused}  1 objects" in listed.stdout


def test_prune_keeps_a_recent_prefix_without_marker_and_deletes_an_old_one(tmp_path: Path) -> None:
    config, _ = weights.load_config("test", project_dir(tmp_path))
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def revision(name: str, hours_ago: float, complete: bool) -> weights.RevisionPrefix:
        prefix = f"acme/{name}/" + "a" * 40 + "/"
        return weights.RevisionPrefix(prefix, [prefix + "x"], 1, complete, now - timedelta(hours=hours_ago))

    found = {
        r.prefix: r for r in [revision("fresh", 23, False), revision("stale", 25, False), revision("old", 1, True)]
    }
    plan = weights.plan_prune(found, config, set(), now)
    assert [r.prefix for r in plan.in_progress] == ["acme/fresh/" + "a" * 40 + "/"]
    assert [r.prefix for r in plan.unused] == ["acme/old/" + "a" * 40 + "/", "acme/stale/" + "a" * 40 + "/"]


def test_the_deployed_prefixes_are_read_from_the_programs_outputs(prod_plan: Any) -> None:
    assert weights.deployed_prefixes(prod_plan.outputs["models"]) == {
        layout.prefix("meta-llama/Llama-3.1-8B-Instruct", "0e9e39f249a16976918f6564b8830bc894c89659"),
        layout.prefix("Qwen/Qwen2.5-7B-Instruct", "a09a35458c702b33eeacc393d103063234e8bc28"),
    }
    hub = {"draft": {"weights": {"source": "hub", "uri": f"https://huggingface.co/{MODEL_ID}/tree/{COMMIT}"}}}
    assert weights.deployed_prefixes(hub) == set()


def test_a_deployed_weights_uri_out_of_shape_is_one_line() -> None:
    with pytest.raises(weights.WeightsError) as raised:
        weights.deployed_prefixes({"chat": {"weights": {"source": "s3", "uri": "s3://b/meta-llama/x/main/"}}})
    assert str(raised.value) == (
        "the deployed outputs give model chat weights.uri 's3://b/meta-llama/x/main/', not "
        "s3://<bucket>/<modelId>/<revision>/: pass the outputs of `pulumi stack output --json` as they are"
    )


class RecordingS3:
    """S3 that records each delete and answers DeleteObjects with ``errors``."""

    def __init__(self, errors: list[dict[str, str]] | None = None, marker_stays: bool = False) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.errors = errors or []
        self.marker_stays = marker_stays

    def delete_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.calls.append(("delete_object", [Key]))
        return {}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.calls.append(("head_object", [Key]))
        if self.marker_stays:
            return {}
        raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("delete_objects", [o["Key"] for o in Delete["Objects"]]))
        return {"Errors": self.errors}


PRUNED = "acme/m/" + "a" * 40 + "/"


def pruned_revision(files: int = 1500, marker: bool = True) -> weights.RevisionPrefix:
    keys_ = [PRUNED + f"{i:04d}.bin" for i in range(files)] + ([PRUNED + layout.MARKER] if marker else [])
    return weights.RevisionPrefix(PRUNED, keys_, 0, marker)


def test_prune_deletes_the_marker_alone_and_confirms_it_before_the_rest() -> None:
    s3 = RecordingS3()
    weights.delete_revision(s3, "b", pruned_revision())
    marker = PRUNED + layout.MARKER
    assert s3.calls[:2] == [("delete_object", [marker]), ("head_object", [marker])]
    batches = [keys_ for call, keys_ in s3.calls[2:] if call == "delete_objects"]
    assert [len(b) for b in batches] == [1000, 500]
    assert marker not in {k for b in batches for k in b}


def test_prune_deletes_nothing_more_while_the_marker_is_still_there() -> None:
    s3 = RecordingS3(marker_stays=True)
    with pytest.raises(weights.WeightsError, match=r"llm-serving-complete.json is still there after DeleteObject"):
        weights.delete_revision(s3, "b", pruned_revision())
    assert [call for call, _ in s3.calls] == ["delete_object", "head_object"]


def test_an_unmarked_prefix_is_deleted_in_batches() -> None:
    s3 = RecordingS3()
    weights.delete_revision(s3, "b", pruned_revision(files=3, marker=False))
    assert s3.calls == [("delete_objects", [PRUNED + f"{i:04d}.bin" for i in range(3)])]


def test_a_key_deleteobjects_refuses_is_a_failure_naming_it() -> None:
    s3 = RecordingS3(errors=[{"Key": PRUNED + "0001.bin", "Code": "AccessDenied", "Message": "Access Denied"}])
    with pytest.raises(weights.WeightsError) as raised:
        weights.delete_revision(s3, "b", pruned_revision(files=2))
    assert str(raised.value) == (
        f"S3 refused to delete 1 objects of s3://b/{PRUNED}, e.g. {PRUNED}0001.bin: AccessDenied Access Denied; "
        "rerun to finish"
    )


def test_revision_prefix_is_the_path_up_to_the_commit() -> None:
    assert weights.revision_prefix("org/name/" + "a" * 40 + "/sub/f.json") == "org/name/" + "a" * 40 + "/"
    assert weights.revision_prefix("org/name/main/f.json") is None
    assert weights.revision_prefix("a" * 40 + "/f.json") is None  # a commit needs a model id before it


def invoke_prune(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3: Any, *extra: str) -> Any:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"weightsBucket": "b", "models": {}}))
    monkeypatch.setattr(cli, "_aws_client", lambda service, region: s3)
    args = ["weights", "prune", "test", "--outputs", str(outputs), "--project-dir", str(project_dir(tmp_path))]
    return CliRunner().invoke(cli.app, [*args, *extra])


def stubbed_s3() -> tuple[Any, Stubber]:
    s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return s3, Stubber(s3)


def test_prune_a_denied_listing_is_one_line_naming_the_rights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s3, stub = stubbed_s3()
    stub.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", http_status_code=403)
    stub.activate()
    result = invoke_prune(monkeypatch, tmp_path, s3)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: s3:ListBucket (ListObjectsV2) of s3://b was denied (AccessDenied: Access Denied): the caller needs "
        "s3:ListBucket, s3:GetObject and s3:DeleteObject on the weights bucket"
    ]


def test_prune_a_denied_delete_is_one_line_naming_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s3, stub = stubbed_s3()
    marker = PRUNED + layout.MARKER
    listed = [{"Key": marker, "Size": 10, "LastModified": datetime(2026, 1, 1, tzinfo=UTC)}]
    stub.add_response("list_objects_v2", {"Contents": listed, "IsTruncated": False})
    stub.add_client_error("delete_object", "AccessDenied", "Access Denied", http_status_code=403)
    stub.activate()
    result = invoke_prune(monkeypatch, tmp_path, s3, "--yes")
    assert result.exit_code == 1
    assert (  # stderr, which the runner may show before stdout
        f"error: s3:DeleteObject of s3://b/{marker} was denied (AccessDenied: Access Denied): the caller needs "
        "s3:ListBucket, s3:GetObject and s3:DeleteObject on the weights bucket"
    ) in result.output.splitlines()
    assert "deleted" not in result.output
