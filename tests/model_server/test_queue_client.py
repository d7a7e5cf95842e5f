"""The client: batched sends, result reads and waits, its command line, and its weight."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes import AwsRecorder
from worker_harness import FAKE_CREDENTIALS, MODEL, REGION, REPO, AwsStack, StartWorker, chat_request

from model_server.client import QueueClient, ResultsTimeout, chat
from model_server.messages import Result, ResultStatus, Timings, result_key


@pytest.fixture
def client_env(monkeypatch: pytest.MonkeyPatch, recorder: AwsRecorder) -> Iterator[dict[str, str]]:
    env = {
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": recorder.url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env


def _stored(aws: AwsStack, request_id: str) -> Result:
    moment = datetime.now(UTC)
    result = Result(
        id=request_id,
        model=MODEL,
        status=ResultStatus.SUCCEEDED,
        response={"choices": [{"message": {"role": "assistant", "content": "hi"}}]},
        timings=Timings(
            sent_at=moment, started_at=moment, finished_at=moment, queue_wait_seconds=0, generation_seconds=0
        ),
        receive_count=1,
        instance_id="i-1",
        engine="tgi",
    )
    key = result_key(MODEL, request_id)
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=result.model_dump_json().encode())
    return result


def test_submit_many_sends_batches_of_at_most_ten(
    aws: AwsStack, recorder: AwsRecorder, client_env: dict[str, str]
) -> None:
    client = QueueClient(aws.queue_url, aws.bucket)
    requests = [chat(MODEL, f"prompt {i}") for i in range(23)]

    ids = client.submit_many(requests)

    assert ids == [r.id for r in requests]
    batches = recorder.of("SendMessageBatch")
    assert [len(b.params["Entries"]) for b in batches] == [10, 10, 3]
    assert aws.counts() == (23, 0)


def test_submit_many_keeps_each_batch_under_one_mebibyte(
    aws: AwsStack, recorder: AwsRecorder, client_env: dict[str, str]
) -> None:
    client = QueueClient(aws.queue_url, aws.bucket)
    requests = [chat(MODEL, "x" * 400_000) for _ in range(3)]

    client.submit_many(requests)

    assert [len(b.params["Entries"]) for b in recorder.of("SendMessageBatch")] == [2, 1]


def test_get_returns_none_until_the_result_exists(aws: AwsStack, client_env: dict[str, str]) -> None:
    client = QueueClient(results_bucket=aws.bucket)
    assert client.get(MODEL, "req-1") is None

    stored = _stored(aws, "req-1")

    assert client.get(MODEL, "req-1") == stored


def test_wait_returns_every_result_once_all_are_written(aws: AwsStack, client_env: dict[str, str]) -> None:
    client = QueueClient(results_bucket=aws.bucket)
    _stored(aws, "req-1")
    later = threading.Timer(0.5, _stored, args=(aws, "req-2"))
    later.start()

    results = client.wait(MODEL, ["req-1", "req-2"], timeout_seconds=5, poll_seconds=0.1)

    assert sorted(results) == ["req-1", "req-2"]


def test_wait_times_out_naming_the_missing_results(aws: AwsStack, client_env: dict[str, str]) -> None:
    client = QueueClient(results_bucket=aws.bucket)
    _stored(aws, "req-1")

    with pytest.raises(ResultsTimeout) as raised:
        client.wait(MODEL, ["req-1", "req-2"], timeout_seconds=0.3, poll_seconds=0.1)

    assert raised.value.missing == ["req-2"]
    assert list(raised.value.results) == ["req-1"]


def test_command_line_asks_a_running_worker_and_prints_the_answer(
    aws: AwsStack, client_env: dict[str, str], start_worker: StartWorker
) -> None:
    start_worker()
    command = [
        sys.executable,
        "-m",
        "model_server.client",
        "ask",
        "--model",
        MODEL,
        "--queue-url",
        aws.queue_url,
        "--results-bucket",
        aws.bucket,
        "--prompt",
        "Hello there",
        "--timeout",
        "10",
    ]

    done = subprocess.run(command, capture_output=True, text=True, timeout=20, cwd=REPO)

    assert (done.returncode, done.stdout, done.stderr) == (0, "echo: Hello there\n", "")


def test_command_line_submits_a_file_of_chat_bodies_and_prints_their_ids(
    aws: AwsStack, client_env: dict[str, str], tmp_path: Path
) -> None:
    lines = tmp_path / "requests.jsonl"
    lines.write_text(
        '{"messages": [{"role": "user", "content": "one"}], "max_tokens": 5}\n'
        + chat_request("my-id").model_dump_json()
        + "\n"
    )
    command = [
        sys.executable,
        "-m",
        "model_server.client",
        "submit",
        "--model",
        MODEL,
        "--queue-url",
        aws.queue_url,
        "--file",
        str(lines),
    ]

    done = subprocess.run(command, capture_output=True, text=True, timeout=20, cwd=REPO)

    assert done.returncode == 0, done.stderr
    ids = done.stdout.split()
    assert len(ids) == 2 and ids[1] == "my-id"
    assert aws.counts() == (2, 0)


def test_command_line_wait_exits_1_when_results_are_missing(aws: AwsStack, client_env: dict[str, str]) -> None:
    command = [
        sys.executable,
        "-m",
        "model_server.client",
        "wait",
        "--model",
        MODEL,
        "--results-bucket",
        aws.bucket,
        "--timeout",
        "0.2",
        "nope",
    ]

    done = subprocess.run(command, capture_output=True, text=True, timeout=20, cwd=REPO)

    assert done.returncode == 1
    assert "no result for nope" in done.stderr


def test_client_imports_only_boto3_and_pydantic() -> None:
    heavy = ["httpx", "tenacity", "pydantic_settings", "pulumi", "model_server.worker"]
    probe = f"import sys, model_server.client; print(sorted(m for m in {heavy!r} if m in sys.modules))"

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=20, cwd=REPO, check=True
    )

    assert done.stdout.strip() == "[]"
