"""Queue worker throughput against a fake engine with a known ceiling.

The fake engine serves at most C requests at once, each taking L seconds, so no consumer
can complete more than C/L requests per second (the bound). This measures, in one run:

- the worker (``python -m model_server.worker``) with WORKER_MAX_IN_FLIGHT = C, and with
  a little headroom (C + C/4, the recommended setting: the engine always has the next
  request queued while finished ones are written and deleted);
- a naive loop (receive one message, post it, write the result, delete, repeat);

each as sustained completions per second, as a fraction of the bound, and CPU time per
request. AWS is moto's server in its own process (it costs far more CPU per message than
the worker: see its column), so keep C/L well under what one moto process sustains
(about 35 messages/s on one core) or the benchmark measures moto.

    .venv/bin/python benchmarks/worker_throughput.py                 # C=8, L=0.5 s
    .venv/bin/python benchmarks/worker_throughput.py --concurrency 16 --latency 1.0

Results: benchmarks/worker_throughput.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "model_server"))

from fakes import EngineCall, FakeEngine, FakeImds, eventually  # noqa: E402 - after the path setup
from worker_harness import MODEL, AwsStack, WorkerProcess, chat_request, worker_environment  # noqa: E402

from model_server.messages import result_key  # noqa: E402

EDGE_FRACTION = 0.1
"""Share of the run's time span left out at each end: start-up and the tail are not the
sustained rate."""
NAIVE_READY = "naive-loop-ready"


@dataclass(frozen=True)
class Measure:
    name: str
    max_in_flight: int | None
    rate: float
    bound: float
    consumer_cpu_ms: float
    moto_cpu_ms: float

    def row(self) -> str:
        in_flight = "-" if self.max_in_flight is None else str(self.max_in_flight)
        return (
            f"| {self.name} | {in_flight} | {self.rate:.2f} | {self.rate / self.bound:.1%} "
            f"| {self.consumer_cpu_ms:.1f} | {self.moto_cpu_ms:.1f} |"
        )


@dataclass(frozen=True)
class Bench:
    stack: AwsStack
    engine: FakeEngine
    moto: subprocess.Popen[bytes]
    bound: float


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto's server in its own process, so it does not share the fakes' interpreter."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return True
        except (urllib.error.URLError, OSError):
            return False

    try:
        eventually(up, 20, "moto's server", 0.1)
    except AssertionError:
        process.terminate()
        raise
    return process, url


def sustained_rate(calls: list[EngineCall], concurrency: int, latency: float) -> float:
    """Completions per second in the middle of the run, from the engine's busy time there:
    utilization (generating time / (C x window)) times the bound C/L. Counting completions
    in a window instead is biased, because they come in bursts of up to C."""
    start = min(c.arrived for c in calls)
    end = max(c.finished for c in calls if c.finished is not None)
    low, high = start + EDGE_FRACTION * (end - start), end - EDGE_FRACTION * (end - start)
    busy = sum(
        max(0.0, min(c.finished, high) - max(c.arrived + c.waited, low)) for c in calls if c.finished is not None
    )
    return busy / (concurrency * (high - low)) * concurrency / latency


def _send(stack: AwsStack, requests: int) -> tuple[str, list[str]]:
    run = uuid.uuid4().hex[:6]  # fresh ids: a repeated id is (rightly) a duplicate
    ids = [f"{run}-{i}" for i in range(requests)]
    entries = [{"Id": str(i), "MessageBody": chat_request(rid).model_dump_json()} for i, rid in enumerate(ids)]
    for start in range(0, len(entries), 10):
        stack.sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries[start : start + 10])
    return run, ids


def _start_consumer(env: dict[str, str], naive: bool) -> subprocess.Popen[str]:
    """The consumer, started and ready (imports done, clients built)."""
    if not naive:
        return WorkerProcess(env).started().process
    process = subprocess.Popen([sys.executable, __file__, "--naive-loop"], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == NAIVE_READY
    return process


def _measure(bench: Bench, name: str, env: dict[str, str], requests: int, max_in_flight: int | None) -> Measure:
    stack, engine = bench.stack, bench.engine
    engine.calls.clear()
    run, ids = _send(stack, requests)
    process = _start_consumer(env, naive=max_in_flight is None)
    cpu_before, moto_before = _cpu_seconds(process.pid), _cpu_seconds(bench.moto.pid)
    eventually(lambda: stack.counts() == (0, 0), 600, f"{name} to empty the queue", 0.2)
    cpu = _cpu_seconds(process.pid) - cpu_before
    moto_cpu = _cpu_seconds(bench.moto.pid) - moto_before
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    pages = stack.s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=f"results/{MODEL}/{run}-")
    stored = {o["Key"] for page in pages for o in page.get("Contents", [])}
    missing = [rid for rid in ids if result_key(MODEL, rid) not in stored]
    assert not missing, f"{name}: {len(missing)} results missing"
    rate = sustained_rate(engine.completed(), engine.concurrency, engine.latency)
    return Measure(name, max_in_flight, rate, bench.bound, cpu / requests * 1000, moto_cpu / requests * 1000)


def naive_loop() -> None:
    """Receive one message, post it to the engine, write the result, delete it: the
    obvious consumer, for comparison. Stops on SIGTERM between messages."""
    import boto3
    import httpx

    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    queue, bucket = os.environ["WORKER_QUEUE_URL"], os.environ["WORKER_RESULTS_BUCKET"]
    engine = httpx.Client(base_url=os.environ["WORKER_ENGINE_URL"], timeout=600)
    print(NAIVE_READY, flush=True)
    while not stop:
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        for message in received.get("Messages", []):
            request = json.loads(message["Body"])
            headers = {"X-Request-Id": request["id"]}
            answer = engine.post("/v1/chat/completions", json=request["request"], headers=headers)
            key = result_key(request["model"], request["id"])
            body = json.dumps({"id": request["id"], "status": "succeeded", "response": answer.json()})
            s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8, help="the engine's C (8)")
    parser.add_argument("--latency", type=float, default=0.5, help="the engine's L, seconds (0.5)")
    parser.add_argument("--requests", type=int, default=400, help="per worker run (400)")
    parser.add_argument("--naive-requests", type=int, default=40, help="for the naive loop (40)")
    parser.add_argument("--naive-loop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_loop:
        naive_loop()
        return

    c, latency = args.concurrency, args.latency
    engine = FakeEngine(concurrency=c, latency=latency)
    imds = FakeImds()
    moto, moto_url = _start_moto()
    try:
        stack = AwsStack.create(moto_url, versioned=False)
        bench = Bench(stack, engine, moto, bound=c / latency)
        env = {
            **stack.worker_env(engine.url, imds.url),
            "AWS_ENDPOINT_URL": moto_url,
            "WORKER_LOG_LEVEL": "INFO",  # the default: its cost is part of the measure
            "WORKER_EMF_ENDPOINT": "off",
        }
        headroom = c + max(1, c // 4)
        measures = [
            _measure(bench, "worker", {**env, "WORKER_MAX_IN_FLIGHT": str(c)}, args.requests, c),
            _measure(bench, "worker", {**env, "WORKER_MAX_IN_FLIGHT": str(headroom)}, args.requests, headroom),
            _measure(bench, "naive loop", worker_environment(env), args.naive_requests, None),
        ]
    finally:
        engine.close()
        imds.close()
        moto.terminate()
        moto.wait(10)
    print(
        f"\nFake engine: C = {c} at once, L = {latency} s each; bound C/L = {c / latency:.1f}/s; "
        f"{args.requests} requests per worker run, {args.naive_requests} for the naive loop; "
        f"{os.cpu_count()} CPUs.\n"
    )
    print("| consumer | max in flight | completions/s | of bound | consumer CPU ms/request | moto CPU ms/request |")
    print("| --- | --- | --- | --- | --- | --- |")
    for measure in measures:
        print(measure.row())


if __name__ == "__main__":
    main()
