"""Running the worker for real: a queue and bucket on moto's server, and the worker as a
subprocess (``python -m model_server.worker``) whose JSON log lines the tests read.

Shared by the tests (through conftest fixtures) and benchmarks/worker_throughput.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from model_server.messages import Request, Result, result_key

REPO = Path(__file__).resolve().parents[2]
MODEL = "chat"
REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

FAST_SETTINGS = {
    # Short waits so each test takes seconds; the behaviours are the same as with defaults.
    "WORKER_POLL_WAIT_SECONDS": "1",
    "WORKER_VISIBILITY_TIMEOUT_SECONDS": "30",
    "WORKER_HEARTBEAT_SECONDS": "10",
    "WORKER_DRAIN_SECONDS": "5",
    "WORKER_READINESS_POLL_SECONDS": "0.2",
    "WORKER_IMDS_POLL_SECONDS": "0.2",
    "WORKER_ENGINE_RETRY_MAX_WAIT_SECONDS": "0.05",
    "WORKER_RELEASE_BACKOFF_BASE_SECONDS": "1",
    "WORKER_INTERRUPTION_MARGIN_SECONDS": "1",
    "WORKER_METRICS_INTERVAL_SECONDS": "1",
    "WORKER_EMF_ENDPOINT": "off",
    "WORKER_LOG_LEVEL": "DEBUG",
}


def chat_request(request_id: str | None = None, prompt: str = "Hello", **body: Any) -> Request:
    return Request.model_validate(
        {
            "id": request_id or uuid.uuid4().hex,
            "model": MODEL,
            "request": {"messages": [{"role": "user", "content": prompt}], **body},
        }
    )


@dataclass
class AwsStack:
    """One model's queue (with dead-letter queue) and a results bucket, on moto."""

    endpoint: str
    queue_url: str
    dlq_url: str
    bucket: str
    sqs: Any
    s3: Any

    @classmethod
    def create(cls, endpoint: str, *, max_receive_count: int = 3, versioned: bool = True) -> AwsStack:
        name = uuid.uuid4().hex[:12]
        kwargs = {
            "endpoint_url": endpoint,
            "region_name": REGION,
            "config": Config(retries={"mode": "standard"}),
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        sqs = boto3.client("sqs", **kwargs)
        s3 = boto3.client("s3", **kwargs)
        dlq_url = sqs.create_queue(QueueName=f"dlq-{name}")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
        queue_url = sqs.create_queue(QueueName=f"requests-{name}", Attributes={"RedrivePolicy": json.dumps(redrive)})[
            "QueueUrl"
        ]
        bucket = f"results-{name}"
        s3.create_bucket(Bucket=bucket)
        if versioned:  # every write is a version: "written exactly once" is countable
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        return cls(endpoint, queue_url, dlq_url, bucket, sqs, s3)

    def send(self, *requests: Request) -> None:
        for request in requests:
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=request.model_dump_json())

    def send_raw(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def result(self, request_id: str) -> Result | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=result_key(MODEL, request_id))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        return Result.model_validate_json(body["Body"].read())

    def versions(self, request_id: str) -> int:
        key = result_key(MODEL, request_id)
        listed = self.s3.list_object_versions(Bucket=self.bucket, Prefix=key)
        return sum(1 for v in listed.get("Versions", []) if v["Key"] == key)

    def all_result_versions(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        paginator = self.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket):
            for version in page.get("Versions", []):
                counts[version["Key"]] = counts.get(version["Key"], 0) + 1
        return counts

    def counts(self, queue_url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the queue (default: the request queue)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def dlq_size(self) -> int:
        visible, hidden = self.counts(self.dlq_url)
        return visible + hidden

    def worker_env(self, engine_url: str, imds_url: str) -> dict[str, str]:
        return {
            "WORKER_QUEUE_URL": self.queue_url,
            "WORKER_RESULTS_BUCKET": self.bucket,
            "WORKER_MODEL": MODEL,
            "WORKER_ENGINE_URL": engine_url,
            "WORKER_IMDS_URL": imds_url,
        }


def worker_environment(env: dict[str, str]) -> dict[str, str]:
    """The process environment for a worker (or any AWS client) in tests: this process's,
    minus its AWS and worker settings, plus fake credentials, fast settings and ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WORKER_"))}
    return {
        **base,
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        # botocore must never look for credentials or a region at 169.254.169.254.
        "AWS_EC2_METADATA_DISABLED": "true",
        **FAST_SETTINGS,
        **env,
    }


class WorkerProcess:
    """``python -m model_server.worker`` as a subprocess, with its log lines parsed."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = worker_environment(env)
        self.lines: list[str] = []
        self.stdout: list[str] = []
        self._lock = threading.Lock()
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "model_server.worker"],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stream, sink in ((self.process.stderr, self.lines), (self.process.stdout, self.stdout)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    def _pump(self, stream: Any, sink: list[str]) -> None:
        for line in stream:
            with self._lock:
                sink.append(line.rstrip("\n"))

    def events(self, name: str | None = None, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            lines = list(self.lines)
        parsed = []
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (name is None or event.get("event") == name) and all(event.get(k) == v for k, v in match.items()):
                parsed.append(event)
        return parsed

    def wait_for(self, name: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(name, **match)
            if found:
                return found[0]
            if self.process.poll() is not None and not self.events(name, **match):
                time.sleep(0.1)  # let the pump threads read the last lines
                if not self.events(name, **match):
                    break
            time.sleep(0.02)
        raise AssertionError(f"no {name!r} event matching {match} in:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        with self._lock:
            return "\n".join(self.lines[-lines:])

    def started(self, timeout: float = 10.0) -> WorkerProcess:
        try:
            self.wait_for("worker_started", timeout)
        except AssertionError:
            self.kill()  # never leave a half-started worker behind
            raise
        return self

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"worker still running after {timeout} s:\n{self.log_tail()}") from exc


def event_time(event: dict[str, Any]) -> float:
    """An event's wall-clock time, comparable with the fakes' records."""
    from datetime import datetime

    return datetime.fromisoformat(event["time"]).timestamp()


StartWorker = Callable[..., "WorkerProcess"]
"""The ``start_worker`` fixture: starts the worker with extra environment variables."""
