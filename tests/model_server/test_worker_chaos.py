"""Chaos: the worker is SIGKILLed three times at random moments while serving 200
requests, and restarted each time. Nothing may be lost and nothing written twice."""

from __future__ import annotations

import os
import random
import time

import pytest
from fakes import FakeEngine, FakeImds, eventually
from worker_harness import MODEL, AwsStack, WorkerProcess, chat_request

from model_server.messages import ResultStatus, result_key

REQUESTS = 200
KILLS = 3


@pytest.mark.slow
def test_survives_three_sigkills_losing_nothing_and_writing_nothing_twice(
    moto_url: str, engine: FakeEngine, imds: FakeImds
) -> None:
    # Each kill can interrupt a message once, so a message is received at most KILLS + 1
    # times: a maxReceiveCount above that keeps the dead-letter queue out of this test.
    stack = AwsStack.create(moto_url, max_receive_count=KILLS + 2)
    engine.latency = 0.2
    env = {
        **stack.worker_env(engine.url, imds.url),
        "AWS_ENDPOINT_URL": moto_url,
        "WORKER_MAX_IN_FLIGHT": "32",
        # A killed worker's messages come back after this: short keeps the test short.
        "WORKER_VISIBILITY_TIMEOUT_SECONDS": "1",
        "WORKER_HEARTBEAT_SECONDS": "0.3",
        "WORKER_LOG_LEVEL": "INFO",
    }
    seed = int(os.environ.get("CHAOS_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    ids = [f"req-{i:03d}" for i in range(REQUESTS)]
    entries = [{"Id": str(i), "MessageBody": chat_request(rid).model_dump_json()} for i, rid in enumerate(ids)]
    for start in range(0, len(entries), 10):
        stack.sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries[start : start + 10])

    moments = []
    for _ in range(KILLS):
        worker = WorkerProcess(env).started()
        moments.append(rng.uniform(0.2, 0.9))
        time.sleep(moments[-1])
        worker.kill()
    final = WorkerProcess(env).started()
    try:
        eventually(lambda: stack.counts() == (0, 0), 30, f"an empty queue (seed {seed})", 0.2)
    finally:
        final.terminate()
    assert final.wait(10) == 0

    versions = stack.all_result_versions()
    assert versions == {result_key(MODEL, rid): 1 for rid in ids}, f"seed {seed}"
    results = [stack.result(rid) for rid in ids]
    assert all(r is not None and r.status is ResultStatus.SUCCEEDED for r in results)
    assert stack.dlq_size() == 0
    # The kills did hit work in progress (otherwise this test proved nothing).
    assert len(engine.calls) > REQUESTS, f"no generation was interrupted (seed {seed})"
