"""The weights stager against a fake Hugging Face Hub (fake_hub.py) and moto's S3 server:
byte-for-byte copies, a second run that transfers nothing, a killed run that leaves no
marker and a rerun that completes it, and one-line failures that mark nothing complete.

The stager runs in process where a test only looks at its result, and as a real process
(``python -m model_server.weights stage``) where its exit code, its output or a SIGKILL
matter."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fake_hub import FakeHub, FakeRepo
from fakes import AwsRecorder
from worker_harness import FAKE_CREDENTIALS, REGION

from model_server.weights import layout, stage
from tests.helpers import ROOT

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
MODEL = "acme/tiny-llm"


def tiny_repo(model_id: str = MODEL, **options: Any) -> FakeRepo:
    """Four files, two of them LFS weights of a few hundred KB (random: no accidental match)."""
    files = {
        "config.json": b'{"model_type": "llama", "num_hidden_layers": 2}\n',
        "tokenizer/tokenizer.json": b'{"version": "1.0", "vocab": {"a": 0}}\n',
        "model-00001-of-00002.safetensors": os.urandom(400_000),
        "model-00002-of-00002.safetensors": os.urandom(250_000),
    }
    lfs = frozenset(p for p in files if p.endswith(".safetensors"))
    return FakeRepo(model_id, COMMIT, files, lfs=lfs, **options)


@pytest.fixture(scope="module")
def hub_server() -> Iterator[FakeHub]:
    fake = FakeHub()  # stopping its servers takes about a second: one per module
    yield fake
    fake.close()


@pytest.fixture
def hub(hub_server: FakeHub) -> Iterator[FakeHub]:
    yield hub_server
    hub_server.reset()


@pytest.fixture
def aws_env(moto_url: str, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a stager: moto for AWS, the fake Hub, no token, an empty HF_HOME."""
    env = {
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return env


@pytest.fixture
def s3(aws_env: dict[str, str]) -> Any:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"weights-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def objects(s3: Any, bucket: str) -> dict[str, bytes]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def writes(recorder: AwsRecorder) -> list[str]:
    """Keys written through the recorder: PutObject and the POSTs of multipart uploads."""
    return [c.params["Key"] for c in recorder.calls if c.action in ("PutObject", "PostObject")]


def run_stage(bucket: str, tmp_path: Path, lines: list[str] | None = None, **options: Any) -> stage.StageResult:
    out = lines.append if lines is not None else (lambda _line: None)
    model_id, revision = options.pop("model_id", MODEL), options.pop("revision", COMMIT)
    return stage.stage(bucket, model_id, revision, work_dir=tmp_path / "work", out=out, **options)


def stager_process(
    env: dict[str, str], bucket: str, *args: str, model_id: str = MODEL, revision: str = COMMIT
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "model_server.weights", "stage", "--bucket", bucket, "--model-id", model_id]
    command += ["--revision", revision, "--parallel-files", "1", "--progress-seconds", "0.2", *args]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_stager(env: dict[str, str], bucket: str, *args: str, **kwargs: str) -> subprocess.CompletedProcess[str]:
    process = stager_process(env, bucket, *args, **kwargs)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


# ----------------------------------------------------------------------------- copies


def test_copies_a_tiny_model_byte_for_byte(hub: FakeHub, s3: Any, bucket: str, tmp_path: Path) -> None:
    repo = hub.add(tiny_repo())
    result = run_stage(bucket, tmp_path)
    prefix = layout.prefix(MODEL, COMMIT)
    stored = objects(s3, bucket)
    assert {k: v for k, v in stored.items() if k != layout.marker_key(MODEL, COMMIT)} == {
        prefix + path: data for path, data in repo.files.items()
    }
    assert sorted(result.uploaded) == sorted(repo.files)
    assert not result.already_complete


def test_each_object_carries_the_hubs_checksum(hub: FakeHub, s3: Any, bucket: str, tmp_path: Path) -> None:
    repo = hub.add(tiny_repo())
    run_stage(bucket, tmp_path)
    prefix = layout.prefix(MODEL, COMMIT)
    weights = s3.head_object(Bucket=bucket, Key=prefix + "model-00001-of-00002.safetensors")
    config = s3.head_object(Bucket=bucket, Key=prefix + "config.json")
    assert weights["Metadata"] == {"hub-checksum": "sha256:" + repo.sha256("model-00001-of-00002.safetensors")}
    assert config["Metadata"] == {"hub-checksum": "git-sha1:" + repo.info()["siblings"][0]["blobId"]}  # type: ignore[index]


def test_marker_lists_every_file_with_size_and_checksum(hub: FakeHub, s3: Any, bucket: str, tmp_path: Path) -> None:
    repo = hub.add(tiny_repo())
    run_stage(bucket, tmp_path)
    marker = json.loads(s3.get_object(Bucket=bucket, Key=layout.marker_key(MODEL, COMMIT))["Body"].read())
    prefix = layout.prefix(MODEL, COMMIT)
    assert (marker["model_id"], marker["revision"]) == (MODEL, COMMIT)
    assert marker["total_bytes"] == sum(len(d) for d in repo.files.values())
    assert marker["completed_at"].endswith("Z")
    by_key = {f["key"]: f for f in marker["files"]}
    assert set(by_key) == {prefix + p for p in repo.files}
    shard = by_key[prefix + "model-00002-of-00002.safetensors"]
    assert shard == {
        "key": prefix + "model-00002-of-00002.safetensors",
        "size": 250_000,
        "checksum": "sha256:" + repo.sha256("model-00002-of-00002.safetensors"),
    }


def test_weights_come_from_the_cdn_without_the_token(
    hub: FakeHub, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add(tiny_repo(gated=True, token="hf_right"))
    monkeypatch.setenv("HF_TOKEN", "hf_right")
    run_stage(bucket, tmp_path)
    cdn = [c for c in hub.calls if c.server == "cdn"]
    resolved = [c for c in hub.calls if c.server == "hub" and "/resolve/" in c.path]
    assert len(cdn) == 2
    assert {c.authorization for c in cdn} == {None}
    assert {c.authorization for c in resolved} == {"Bearer hf_right"}


def test_large_files_are_uploaded_in_parts(
    hub: FakeHub, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage, "MULTIPART_CHUNK_BYTES", 5 * 1024 * 1024)  # S3's smallest part
    data = os.urandom(11 * 1024 * 1024)
    hub.add(FakeRepo(MODEL, COMMIT, {"model.safetensors": data}, lfs=frozenset({"model.safetensors"})))
    run_stage(bucket, tmp_path)
    key = layout.prefix(MODEL, COMMIT) + "model.safetensors"
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 1 MiB
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


def test_a_small_disk_budget_copies_one_file_at_a_time(hub: FakeHub, s3: Any, bucket: str, tmp_path: Path) -> None:
    repo = hub.add(tiny_repo())
    largest = max(len(d) for d in repo.files.values())
    result = run_stage(bucket, tmp_path, parallel_files=4, disk_budget_bytes=largest)
    assert result.peak_disk_bytes <= largest
    assert len(objects(s3, bucket)) == len(repo.files) + 1
    assert not any((tmp_path / "work").rglob("*.safetensors"))  # local copies deleted


def test_a_file_larger_than_the_disk_budget_is_refused(hub: FakeHub, s3: Any, bucket: str, tmp_path: Path) -> None:
    hub.add(tiny_repo())
    with pytest.raises(stage.StageError, match=r"the largest file \(0.00 GB\) does not fit"):
        run_stage(bucket, tmp_path, disk_budget_bytes=1000)
    assert objects(s3, bucket) == {}


def test_a_corrupted_download_is_not_uploaded_and_marks_nothing(
    hub: FakeHub, s3: Any, bucket: str, tmp_path: Path
) -> None:
    hub.add(tiny_repo())
    hub.corrupt.add("model-00002-of-00002.safetensors")
    with pytest.raises(stage.StageError, match=r"downloaded with checksum sha256:.* the Hub lists sha256:"):
        run_stage(bucket, tmp_path, parallel_files=1)
    stored = objects(s3, bucket)
    assert layout.marker_key(MODEL, COMMIT) not in stored
    assert layout.prefix(MODEL, COMMIT) + "model-00002-of-00002.safetensors" not in stored


def llama_repo(model_id: str = MODEL) -> FakeRepo:
    """Laid out like meta-llama/Llama-3.1-8B-Instruct: safetensors at the top, Meta's own
    checkpoint under original/, and (as some repositories have) a PyTorch copy of the weights."""
    files = {
        "config.json": b'{"model_type": "llama"}\n',
        "tokenizer.json": b'{"version": "1.0"}\n',
        "model.safetensors": os.urandom(300_000),
        "pytorch_model.bin": os.urandom(200_000),
        "original/consolidated.00.pth": os.urandom(250_000),
        "original/params.json": b'{"dim": 4096}\n',
    }
    lfs = frozenset({"model.safetensors", "pytorch_model.bin", "original/consolidated.00.pth"})
    return FakeRepo(model_id, COMMIT, files, lfs=lfs)


def test_only_what_the_engines_load_is_staged_and_the_marker_lists_the_rest(
    hub: FakeHub, s3: Any, bucket: str, tmp_path: Path
) -> None:
    repo = hub.add(llama_repo())
    lines: list[str] = []
    result = run_stage(bucket, tmp_path, lines=lines)
    prefix = layout.prefix(MODEL, COMMIT)
    kept = ["config.json", "model.safetensors", "tokenizer.json"]
    assert set(objects(s3, bucket)) == {prefix + p for p in kept} | {layout.marker_key(MODEL, COMMIT)}
    assert sorted(result.uploaded) == kept
    assert not [d for d in hub.downloads() if "original" in d or "pytorch_model" in d]
    marker = json.loads(s3.get_object(Bucket=bucket, Key=layout.marker_key(MODEL, COMMIT))["Body"].read())
    assert marker["skipped"] == [
        {"path": "original/consolidated.00.pth", "size": 250_000},
        {"path": "original/params.json", "size": len(repo.files["original/params.json"])},
        {"path": "pytorch_model.bin", "size": 200_000},
    ]
    assert marker["total_bytes"] == sum(len(repo.files[p]) for p in kept)
    assert lines[1] == (
        "skipping 3 files (0.00 GB) that TGI and vLLM do not load: 2 under original/ (Meta's own checkpoint, "
        '0.00 GB), 1 in other weight formats than the safetensors ones (0.00 GB); the marker lists them under "skipped"'
    )


def test_nothing_skipped_prints_no_skip_line_and_an_empty_skipped_list(
    hub: FakeHub, s3: Any, bucket: str, tmp_path: Path
) -> None:
    hub.add(tiny_repo())
    lines: list[str] = []
    run_stage(bucket, tmp_path, lines=lines)
    assert not [line for line in lines if line.startswith("skipping")]
    marker = json.loads(s3.get_object(Bucket=bucket, Key=layout.marker_key(MODEL, COMMIT))["Body"].read())
    assert marker["skipped"] == []


def test_a_repository_with_only_metas_checkpoint_is_refused(hub: FakeHub, s3: Any, bucket: str, tmp_path: Path) -> None:
    hub.add(FakeRepo(MODEL, COMMIT, {"original/consolidated.00.pth": b"x" * 100, "original/params.json": b"{}"}))
    with pytest.raises(stage.StageError, match=r"has no file TGI or vLLM loads: all its files are under original/"):
        run_stage(bucket, tmp_path)
    assert objects(s3, bucket) == {}


# ----------------------------------------------------------------------------- what is staged


def hub_files(sizes: dict[str, int]) -> list[stage.HubFile]:
    return [stage.HubFile(path, size, "sha256:" + "0" * 64) for path, size in sizes.items()]


def paths(files: list[stage.HubFile]) -> list[str]:
    return sorted(f.path for f in files)


LLAMA_31_8B_INSTRUCT = {  # the files of meta-llama/Llama-3.1-8B-Instruct (sizes approximate)
    ".gitattributes": 1_519,
    "LICENSE": 7_627,
    "README.md": 44_000,
    "USE_POLICY.md": 4_691,
    "config.json": 855,
    "generation_config.json": 184,
    "model-00001-of-00004.safetensors": 4_976_698_672,
    "model-00002-of-00004.safetensors": 4_999_802_720,
    "model-00003-of-00004.safetensors": 4_915_916_176,
    "model-00004-of-00004.safetensors": 1_168_138_808,
    "model.safetensors.index.json": 23_950,
    "original/consolidated.00.pth": 16_060_617_592,
    "original/params.json": 199,
    "original/tokenizer.model": 2_183_982,
    "special_tokens_map.json": 296,
    "tokenizer.json": 9_085_657,
    "tokenizer_config.json": 55_351,
}


def test_a_llama_repository_is_staged_without_original() -> None:
    selection = stage.select_files_to_stage(hub_files(LLAMA_31_8B_INSTRUCT))
    assert paths(selection.skipped) == [
        "original/consolidated.00.pth",
        "original/params.json",
        "original/tokenizer.model",
    ]
    assert paths(selection.staged) == sorted(p for p in LLAMA_31_8B_INSTRUCT if not p.startswith("original/"))
    assert selection.other_formats == []
    skipped = sum(f.size for f in selection.skipped)
    assert 16e9 < skipped < 16.1e9  # the 16 GB the review found doubled the copy


def test_pytorch_shards_beside_safetensors_are_skipped() -> None:
    files = {  # laid out like mistralai/Mistral-7B-Instruct-v0.2: both formats, both indexes
        "config.json": 596,
        "generation_config.json": 111,
        "model-00001-of-00003.safetensors": 4_943_162_336,
        "model-00002-of-00003.safetensors": 4_999_819_336,
        "model-00003-of-00003.safetensors": 4_540_516_344,
        "model.safetensors.index.json": 25_125,
        "pytorch_model-00001-of-00003.bin": 4_943_184_288,
        "pytorch_model-00002-of-00003.bin": 4_999_843_272,
        "pytorch_model-00003-of-00003.bin": 5_064_824_210,
        "pytorch_model.bin.index.json": 23_950,
        "special_tokens_map.json": 414,
        "tokenizer.json": 1_795_188,
        "tokenizer.model": 493_443,
        "tokenizer_config.json": 2_103,
    }
    selection = stage.select_files_to_stage(hub_files(files))
    assert paths(selection.other_formats) == [f"pytorch_model-0000{i}-of-00003.bin" for i in (1, 2, 3)]
    assert selection.meta_checkpoint == []
    assert "tokenizer.model" in paths(selection.staged)  # a tokenizer, not Meta's checkpoint: kept
    assert "pytorch_model.bin.index.json" in paths(selection.staged)  # small, and not weights


def test_every_other_weight_format_beside_safetensors_is_skipped() -> None:
    files = {  # laid out like openai-community/gpt2 (one model in many formats), plus the other suffixes
        "64-8bits.tflite": 125_162_496,
        "64.tflite": 248_269_688,
        "config.json": 665,
        "flax_model.msgpack": 497_764_120,
        "generation_config.json": 124,
        "merges.txt": 456_318,
        "model.safetensors": 548_105_171,
        "onnx/config.json": 879,
        "onnx/decoder_model.onnx": 653_665_842,
        "onnx/tokenizer.json": 2_107_653,
        "pytorch_model.bin": 548_118_077,
        "rust_model.ot": 702_517_648,
        "tf_model.h5": 497_933_648,
        "tokenizer.json": 1_355_256,
        "vocab.json": 1_042_301,
        "model.gguf": 250_000_000,
        "model.onnx_data": 600_000_000,
        "coreml/model.mlmodel": 500_000,
        "model.ckpt": 500_000_000,
        "quantized.pt": 300_000_000,
        "consolidated.pth": 500_000_000,
        "onnx/model.onnx.data": 600_000_000,
    }
    selection = stage.select_files_to_stage(hub_files(files))
    for suffix in stage.OTHER_WEIGHT_SUFFIXES:  # each suffix is exercised here
        assert any(f.path.endswith(suffix) for f in selection.other_formats), suffix
    assert paths(selection.staged) == [
        "config.json",
        "generation_config.json",
        "merges.txt",
        "model.safetensors",
        "onnx/config.json",
        "onnx/tokenizer.json",
        "tokenizer.json",
        "vocab.json",
    ]


def test_pytorch_weights_are_kept_when_there_are_no_safetensors() -> None:
    files = {
        "config.json": 700,
        "pytorch_model-00001-of-00002.bin": 9_943_028_044,
        "pytorch_model-00002-of-00002.bin": 3_500_315_539,
        "pytorch_model.bin.index.json": 26_788,
        "tokenizer.model": 499_723,
        "original/consolidated.00.pth": 13_476_925_163,
    }
    selection = stage.select_files_to_stage(hub_files(files))
    assert paths(selection.staged) == sorted(p for p in files if not p.startswith("original/"))
    assert paths(selection.skipped) == ["original/consolidated.00.pth"]


def test_safetensors_only_in_a_subfolder_do_not_displace_top_level_weights() -> None:
    # Both engines read weights from the model folder's top level: there, .bin is what they load.
    files = {"config.json": 700, "pytorch_model.bin": 500_000_000, "onnx/model.safetensors": 500_000_000}
    assert paths(stage.select_files_to_stage(hub_files(files)).staged) == sorted(files)


# ----------------------------------------------------------------------------- idempotence, resume


def test_a_second_run_transfers_nothing(
    hub: FakeHub, bucket: str, tmp_path: Path, recorder: AwsRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add(tiny_repo())
    run_stage(bucket, tmp_path)
    downloads = len(hub.downloads())
    monkeypatch.setenv("AWS_ENDPOINT_URL", recorder.url)
    lines: list[str] = []
    result = run_stage(bucket, tmp_path, lines=lines)
    assert result.already_complete
    assert writes(recorder) == []
    assert len(hub.downloads()) == downloads
    assert lines == [
        f"already complete: s3://{bucket}/{layout.prefix(MODEL, COMMIT)} holds {MODEL} at {COMMIT} (4 files, "
        "0.00 GB; marker llm-serving-complete.json): nothing to transfer"
    ]


def test_a_rerun_skips_files_already_in_s3_and_writes_the_marker(
    hub: FakeHub, s3: Any, bucket: str, tmp_path: Path, recorder: AwsRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add(tiny_repo())
    run_stage(bucket, tmp_path)
    s3.delete_object(Bucket=bucket, Key=layout.marker_key(MODEL, COMMIT))  # as if killed before the marker
    monkeypatch.setenv("AWS_ENDPOINT_URL", recorder.url)
    result = run_stage(bucket, tmp_path)
    assert result.uploaded == []
    assert writes(recorder) == [layout.marker_key(MODEL, COMMIT)]


def test_an_object_with_another_checksum_is_copied_again(hub: FakeHub, s3: Any, bucket: str, tmp_path: Path) -> None:
    repo = hub.add(tiny_repo())
    key = layout.prefix(MODEL, COMMIT) + "config.json"
    wrong = b"x" * len(repo.files["config.json"])  # same size, other bytes
    s3.put_object(Bucket=bucket, Key=key, Body=wrong, Metadata={"hub-checksum": "git-sha1:" + "0" * 40})
    result = run_stage(bucket, tmp_path)
    assert "config.json" in result.uploaded
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == repo.files["config.json"]


def test_a_killed_run_leaves_no_marker_and_a_rerun_completes(
    hub: FakeHub, s3: Any, bucket: str, aws_env: dict[str, str], recorder: AwsRecorder
) -> None:
    repo = hub.add(tiny_repo())
    prefix = layout.prefix(MODEL, COMMIT)
    first, second = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"  # largest first
    hub.hold(second)
    process = stager_process(aws_env, bucket)
    try:
        deadline = time.monotonic() + 30
        while prefix + first not in objects(s3, bucket) or not hub.arrived[second].is_set():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the first file never reached S3"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        process.kill()
        process.communicate()
    stored = objects(s3, bucket)
    assert layout.marker_key(MODEL, COMMIT) not in stored
    assert prefix + second not in stored
    hub.release(second)
    rerun = run_stager({**aws_env, "AWS_ENDPOINT_URL": recorder.url}, bucket)
    assert rerun.returncode == 0, rerun.stderr
    assert "1 already there, 3 to copy" in rerun.stdout
    assert prefix + first not in writes(recorder)
    stored = objects(s3, bucket)
    assert {k: v for k, v in stored.items() if k != layout.marker_key(MODEL, COMMIT)} == {
        prefix + path: data for path, data in repo.files.items()
    }


def test_a_marker_that_does_not_match_the_objects_is_not_trusted(
    hub: FakeHub, s3: Any, bucket: str, tmp_path: Path
) -> None:
    hub.add(tiny_repo())
    run_stage(bucket, tmp_path)
    s3.delete_object(Bucket=bucket, Key=layout.prefix(MODEL, COMMIT) + "config.json")
    with pytest.raises(stage.StageError, match="1 of the 4 files it lists are missing"):
        run_stage(bucket, tmp_path)


def test_a_marker_whose_object_has_another_checksum_is_not_trusted(
    hub: FakeHub, s3: Any, bucket: str, tmp_path: Path
) -> None:
    repo = hub.add(tiny_repo())
    run_stage(bucket, tmp_path)
    key = layout.prefix(MODEL, COMMIT) + "config.json"
    same_size = b"x" * len(repo.files["config.json"])  # the sizes match: only the checksum tells
    s3.put_object(Bucket=bucket, Key=key, Body=same_size, Metadata={"hub-checksum": "git-sha1:" + "0" * 40})
    with pytest.raises(stage.StageError) as raised:
        run_stage(bucket, tmp_path)
    assert str(raised.value) == (
        f"s3://{bucket}/{layout.marker_key(MODEL, COMMIT)} exists but 1 of the 4 files it lists are missing or "
        f"differ in size or checksum ({key}, ...): the prefix cannot be trusted; delete that marker (aws s3 rm) "
        "and rerun to repair it"
    )


# ----------------------------------------------------------------------------- failures


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_wrong_revision_exits_with_one_line_and_marks_nothing(
    hub: FakeHub, s3: Any, bucket: str, aws_env: dict[str, str]
) -> None:
    hub.add(tiny_repo())
    result = run_stager(aws_env, bucket, revision=OTHER_COMMIT)
    assert result.returncode == 1
    assert _one_line(result) == (
        f"error: revision {OTHER_COMMIT} is not a commit of {MODEL} on the Hub: pin a commit listed at "
        f"{hub.url}/{MODEL}/commits/main (models.<name>.revision)"
    )
    assert objects(s3, bucket) == {}


def test_a_revision_that_is_not_a_full_commit_is_a_usage_error(
    hub: FakeHub, bucket: str, aws_env: dict[str, str]
) -> None:
    result = run_stager(aws_env, bucket, revision="main")
    assert result.returncode == 2
    assert _one_line(result).startswith("error: revision 'main' is not a full commit hash: pin the 40-character")
    assert hub.calls == []


def test_a_gated_repository_without_a_token_exits_with_one_line_and_marks_nothing(
    hub: FakeHub, s3: Any, bucket: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    hub.add(tiny_repo(gated=True, token="hf_right"))
    # A token in huggingface_hub's own token file is ignored: the environment only.
    home = Path(aws_env["HF_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "token").write_text("hf_right")
    result = run_stager(aws_env, bucket)
    assert result.returncode == 1
    assert _one_line(result) == (
        f"error: {MODEL} is gated and HF_TOKEN is not set: accept its terms at {hub.url}/{MODEL} and set HF_TOKEN "
        "to a read token of that account (in AWS, the stack's Hugging Face token secret)"
    )
    assert objects(s3, bucket) == {}
    assert hub.downloads() == []


def test_a_gated_repository_with_a_token_without_access_exits_with_one_line(
    hub: FakeHub, s3: Any, bucket: str, aws_env: dict[str, str]
) -> None:
    hub.add(tiny_repo(gated=True, token="hf_right"))
    result = run_stager({**aws_env, "HF_TOKEN": "hf_other"}, bucket)
    assert result.returncode == 1
    assert _one_line(result).startswith(f"error: {MODEL} is gated and the account of HF_TOKEN has no access")
    assert layout.marker_key(MODEL, COMMIT) not in objects(s3, bucket)


def test_a_gated_repository_with_its_token_is_copied(
    hub: FakeHub, s3: Any, bucket: str, aws_env: dict[str, str]
) -> None:
    hub.add(tiny_repo(gated=True, token="hf_right"))
    result = run_stager({**aws_env, "HF_TOKEN": "hf_right"}, bucket)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert layout.marker_key(MODEL, COMMIT) in objects(s3, bucket)


def test_an_unknown_repository_exits_with_one_line(hub: FakeHub, bucket: str, aws_env: dict[str, str]) -> None:
    result = run_stager(aws_env, bucket, model_id="acme/nothing")
    assert result.returncode == 1
    assert _one_line(result).startswith("error: acme/nothing is not a model on the Hub")


def test_a_missing_bucket_exits_with_one_line(hub: FakeHub, aws_env: dict[str, str]) -> None:
    hub.add(tiny_repo())
    result = run_stager(aws_env, "weights-does-not-exist")
    assert result.returncode == 1
    assert _one_line(result) == (
        "error: bucket weights-does-not-exist does not exist: use the stack's weightsBucket output"
    )


def test_the_process_prints_progress_lines(hub: FakeHub, bucket: str, aws_env: dict[str, str]) -> None:
    hub.add(tiny_repo())
    result = run_stager(aws_env, bucket)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"staging {MODEL} at {COMMIT} into s3://{bucket}/")
    assert lines[0].endswith("4 files, 0.00 GB; 0 already there, 4 to copy (0.00 GB)")
    assert lines[-2].startswith("progress: 0.00 GB of 0.00 GB (100%)")
    assert lines[-2].endswith("4 of 4 files done)")
    assert lines[-1].startswith(f"complete: s3://{bucket}/")


# ----------------------------------------------------------------------------- progress


def test_progress_line_shows_bytes_rate_and_time_left() -> None:
    now = [0.0]
    progress = stage.Progress(10_000_000_000, clock=lambda: now[0])
    progress.files_total = 4
    assert progress.line().startswith("progress: 0.00 GB of 10.00 GB (0%), 0.0 MB/s, time left unknown yet")
    now[0] = 10.0
    progress.add_downloaded(2_000_000_000)
    progress.add_uploaded(1_000_000_000)
    progress.file_done()
    assert progress.line() == (
        "progress: 1.50 GB of 10.00 GB (15%), 150.0 MB/s, about 57 s left "
        "(downloaded 2.00 GB, uploaded 1.00 GB, 1 of 4 files done)"
    )
