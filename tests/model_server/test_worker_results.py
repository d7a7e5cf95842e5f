"""Results: written before the message is deleted, and never twice for one id."""

from __future__ import annotations

from datetime import UTC, datetime

from fakes import AwsRecorder, FakeEngine, eventually
from worker_harness import MODEL, AwsStack, StartWorker, chat_request

from model_server.messages import Result, ResultStatus, Timings, result_key


def test_writes_the_result_before_deleting_the_message(
    aws: AwsStack, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    start_worker()
    ids = [f"req-{i}" for i in range(5)]
    aws.send(*(chat_request(i) for i in ids))
    eventually(lambda: aws.counts() == (0, 0), 10, "every message deleted")

    puts = {c.params["Key"]: c for c in recorder.of("PutObject")}
    deletes = recorder.of("DeleteMessage")
    assert len(deletes) == len(ids)
    for delete in deletes:
        request_id = recorder.request_id_of(delete.params["ReceiptHandle"])
        put = puts[result_key(MODEL, str(request_id))]
        assert put.status == 200
        assert put.at <= delete.started, f"{request_id} deleted before its result was stored"


def test_keeps_the_message_when_the_result_cannot_be_written(
    aws: AwsStack, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    worker = start_worker(WORKER_RESULTS_BUCKET="results-bucket-that-does-not-exist")
    aws.send(chat_request("req-1"))

    worker.wait_for("result_write_failed", id="req-1")
    worker.wait_for("message_released", id="req-1")

    assert recorder.of("DeleteMessage") == []
    assert sum(aws.counts()) == 1


def test_deletes_a_duplicate_of_a_finished_id_without_generating_again(
    aws: AwsStack, engine: FakeEngine, start_worker: StartWorker
) -> None:
    worker = start_worker()
    aws.send(chat_request("req-1", prompt="first"))
    first = eventually(lambda: aws.result("req-1"), 10, "the first result")
    worker.wait_for("message_deleted", id="req-1")

    aws.send(chat_request("req-1", prompt="second"))
    worker.wait_for("duplicate_delivery", id="req-1")
    eventually(lambda: aws.counts() == (0, 0), 5, "the duplicate deleted")

    assert len(engine.calls_for("req-1")) == 1
    assert aws.result("req-1") == first
    assert aws.versions("req-1") == 1


def test_keeps_a_result_written_meanwhile_and_deletes_the_duplicate(
    aws: AwsStack, engine: FakeEngine, recorder: AwsRecorder, start_worker: StartWorker
) -> None:
    engine.latency = 0.6
    worker = start_worker()
    aws.send(chat_request("req-1"))
    worker.wait_for("generation_started", id="req-1")
    # Another worker (a redelivery elsewhere) finishes first, during this generation.
    theirs = _result_from_elsewhere("req-1")
    key = result_key(MODEL, "req-1")
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=theirs.model_dump_json().encode())

    worker.wait_for("duplicate_result_kept", id="req-1")
    eventually(lambda: aws.counts() == (0, 0), 5, "the duplicate deleted")

    assert aws.result("req-1") == theirs
    assert aws.versions("req-1") == 1
    [put] = recorder.of("PutObject")
    assert (put.params["IfNoneMatch"], put.status) == ("*", 412)


def _result_from_elsewhere(request_id: str) -> Result:
    moment = datetime.now(UTC)
    return Result(
        id=request_id,
        model=MODEL,
        status=ResultStatus.SUCCEEDED,
        response={"choices": [{"message": {"role": "assistant", "content": "theirs"}}]},
        timings=Timings(
            sent_at=moment,
            started_at=moment,
            finished_at=moment,
            queue_wait_seconds=0,
            generation_seconds=0,
        ),
        receive_count=1,
        instance_id="i-another",
        engine="tgi",
    )
