"""The queue worker: takes requests from a model's queue, has the engine beside it answer
them, writes each result to the results bucket, and only then deletes the message.

Delivery is at least once, so every step tolerates a repeat: a finished id is detected
(and, racing, refused by S3's conditional write) and its duplicate deleted. Nothing is
deleted before its result is stored, and a message the worker cannot finish is handed
back (visibility 0) rather than left hidden, so a killed or drained instance loses nothing.

One asyncio loop: the engine is called over async HTTP (cancellable, so abandoned or
drained work frees the GPU), the blocking boto3 calls run in a thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from tenacity import RetryCallState

from model_server.messages import (
    Envelope,
    ErrorKind,
    Request,
    Result,
    ResultError,
    ResultStatus,
    Timings,
    result_key,
)
from model_server.worker import emf, logs
from model_server.worker.aws import (
    AutoScaling,
    LifecycleAction,
    Message,
    RequestQueue,
    ResultStore,
    client_config,
)
from model_server.worker.engine_client import (
    EngineClient,
    PermanentEngineError,
    ServingEngine,
    TransientEngineError,
)
from model_server.worker.instance_metadata import (
    ASG_NAME_TAG_PATH,
    INSTANCE_ID_PATH,
    InstanceMetadata,
    InstanceState,
    MetadataUnavailable,
)
from model_server.worker.sagemaker import SageMakerEngine
from model_server.worker.settings import WorkerSettings

MAX_RECEIVE_BATCH = 10
"""SQS returns at most 10 messages per receive."""
RECEIVE_ERROR_PAUSE_SECONDS = 2.0
"""Pause after a failed receive (botocore already retried it): don't spin on an outage."""
RELEASE_GRACE_SECONDS = 5.0
"""Time given to cancelled work to hand its messages back once a drain deadline passes."""
SAMPLE_SECONDS = 1.0
"""In-flight sampling period: the metrics' 1-second storage resolution."""
SECOND_SIGNAL_EXIT_CODE = 143
"""Exit code on a second SIGTERM (128 + SIGTERM): work was abandoned, not drained."""
CRASH_EXIT_CODE = 1
"""Exit code after an unexpected error stopped receiving (after draining what it held)."""

AWS_ERRORS = (BotoCoreError, ClientError)
_T = TypeVar("_T")


class Phase(Enum):
    PREPARING = "preparing"
    """Parsed, checked for a duplicate; the engine has not been asked yet."""
    GENERATING = "generating"
    FINISHING = "finishing"
    """Writing the result and deleting the message: short, never interrupted."""


@dataclass(eq=False)
class Job:
    message: Message
    phase: Phase = Phase.PREPARING
    request_id: str | None = None
    lost: bool = False
    """The receipt no longer owns the message (deleted elsewhere or expired)."""
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    heartbeat: _Heartbeat | None = field(default=None, repr=False)


class Worker:
    def __init__(self, settings: WorkerSettings, session: boto3.Session) -> None:
        self._s = settings
        pool = settings.max_in_flight + 8  # receive + heartbeats + writes + lifecycle
        self._executor = ThreadPoolExecutor(max_workers=pool, thread_name_prefix="aws")
        sqs_config = client_config(read_timeout_seconds=settings.poll_wait_seconds + 10, pool_size=pool)
        other_config = client_config(read_timeout_seconds=30, pool_size=pool)
        self._queue = RequestQueue(session, settings.queue_url, sqs_config)
        self._results = ResultStore(session, settings.results_bucket, other_config)
        self._autoscaling = AutoScaling(session, other_config)
        self._engine = engine_for(settings, session)
        self._imds = InstanceMetadata(settings.imds_url, settings.imds_token_ttl_seconds)
        self._metrics = emf.MetricsRecorder(settings.model, socket.gethostname(), settings.emf_log_group)
        self._sink = emf.sink_for(settings.emf_endpoint)

        self._jobs: set[Job] = set()
        self._waiters: set[asyncio.Event] = set()
        self._stopping = asyncio.Event()
        """Set once: no more receives. Never cleared: a drained instance is going away."""
        self._drain_deadline = math.inf
        self._drained = asyncio.Event()
        self._terminate = asyncio.Event()
        self._closing = asyncio.Event()
        self._warm_pool_state: str | None = None
        self._last_lifecycle_state: str | None = None
        self._ready_checked_at = -math.inf
        self._engine_ready: bool | None = None
        self._imds_reachable: bool | None = None
        self._notices: set[str] = set()
        self._lifecycle_task: asyncio.Task[None] | None = None
        self._last_flush = time.monotonic()
        self._last_cap: int | None = None
        self._exit_code = 0

    # --- Top level ---------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(self._executor)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        if self._s.watches_instance:
            await self._identify()
        logs.event(
            "worker_started",
            engine=self._s.engine,
            **_engine_target(self._s),
            max_in_flight=self._s.max_in_flight,
            instance_id=self._metrics.instance_id,
            watches_instance=self._s.watches_instance,
        )
        background = [asyncio.create_task(self._publish_metrics())]
        if self._s.watches_instance:
            # Look once before the first receive: a worker restarted on an instance that is
            # already being interrupted or scaled in must not take work.
            await self._poll_instance()
            background.append(asyncio.create_task(self._watch_instance()))
        receiver = asyncio.create_task(self._receive_loop())
        await self._stopping.wait()
        await self._drain(receiver)
        await self._wait_for_termination()
        self._closing.set()
        await asyncio.gather(*background, return_exceptions=True)
        await self._close()
        logs.event("worker_stopped", exit_code=self._exit_code)
        return self._exit_code

    def _on_signal(self, signum: int) -> None:
        if self._terminate.is_set():
            logs.warning("second_signal_exiting_now", signal=signal.Signals(signum).name)
            logs.flush()
            os._exit(SECOND_SIGNAL_EXIT_CODE)  # skips every cleanup, on purpose
        logs.event("signal_received", signal=signal.Signals(signum).name)
        self._terminate.set()
        self._begin_drain("signal", time.monotonic() + self._s.drain_seconds)

    async def _wait_for_termination(self) -> None:
        """After a drain caused by an instance event, stay (not receiving) until SIGTERM:
        exiting could let a supervisor restart the worker onto an instance going away.
        A scale-in completes its lifecycle action here."""
        if not self._terminate.is_set():
            logs.event("drained_waiting_for_termination")
        await self._terminate.wait()
        if self._lifecycle_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._lifecycle_task), RELEASE_GRACE_SECONDS)

    async def _close(self) -> None:
        self._metrics.sample_in_flight(len(self._jobs))
        await self._flush_metrics()
        await self._engine.aclose()
        await self._imds.aclose()
        self._sink.close()
        # Threads still blocked in a receive are abandoned: the process exits regardless.
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- Waking up -----------------------------------------------------------------------

    def _notify(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    async def _changed(self, timeout: float | None = None) -> None:
        """Wait until something changes (a slot frees, a drain starts) or ``timeout``.
        Callers check their condition synchronously just before: no change is missed."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)

    async def _in_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # --- Receiving -----------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        try:
            await self._receive_until_stopped()
        except Exception as exc:  # a bug: stop taking work, hand back what is held, exit
            logs.error("receive_loop_crashed", exc_info=True, error=repr(exc))
            self._exit_code = CRASH_EXIT_CODE
            self._terminate.set()
            self._begin_drain("crash", time.monotonic() + self._s.drain_seconds)
        finally:
            self._notify()

    async def _receive_until_stopped(self) -> None:
        while not self._stopping.is_set():
            if self._warm_pool_state is not None:
                await self._changed(self._s.imds_poll_seconds)
            elif not await self._is_engine_ready():
                await self._changed(self._s.readiness_poll_seconds)
            elif (free := self._in_flight_cap() - len(self._jobs)) <= 0:
                # A slot frees, or the cap grows (an endpoint scaled out): look again then.
                await self._changed(self._s.readiness_poll_seconds)
            else:
                await self._receive(min(MAX_RECEIVE_BATCH, free))

    def _in_flight_cap(self) -> int:
        """WORKER_MAX_IN_FLIGHT, or less when the engine's capacity is smaller (a SageMaker
        endpoint's instances x WORKER_MAX_IN_FLIGHT_PER_INSTANCE)."""
        limit = self._engine.in_flight_limit()
        cap = self._s.max_in_flight if limit is None else min(limit, self._s.max_in_flight)
        if cap != self._last_cap:
            logs.event("in_flight_cap", cap=cap, ceiling=self._s.max_in_flight)
            self._last_cap = cap
        return cap

    async def _receive(self, count: int) -> None:
        try:
            batch = await self._in_thread(
                self._queue.receive,
                count,
                self._s.poll_wait_seconds,
                self._s.visibility_timeout_seconds,
            )
        except AWS_ERRORS as exc:
            logs.error("receive_failed", error=repr(exc))
            await self._changed(RECEIVE_ERROR_PAUSE_SECONDS)
            return
        for message in batch:
            job = Job(message)
            self._jobs.add(job)
            job.task = asyncio.create_task(self._run_job(job))

    async def _is_engine_ready(self) -> bool:
        if time.monotonic() - self._ready_checked_at < self._s.readiness_poll_seconds:
            return self._engine_ready is True
        ready = await self._engine.is_ready()
        self._ready_checked_at = time.monotonic()
        if ready != self._engine_ready:
            logs.event("engine_ready" if ready else "engine_not_ready")
        self._engine_ready = ready
        return ready

    # --- One message ---------------------------------------------------------------------

    async def _run_job(self, job: Job) -> None:
        try:
            await self._handle(job)
        except asyncio.CancelledError:
            # Cancelled by a drain deadline or a lost receipt: never leave it hidden. The
            # heartbeat ends first, so no late extension can undo the release.
            if job.heartbeat is not None:
                await job.heartbeat.stop()
            if job.lost:
                logs.warning("work_abandoned", id=job.request_id, reason="receipt lost")
            else:
                await self._release(job, 0, "drain deadline")
        except Exception as exc:  # a bug or an outage: keep the message, never crash
            logs.error("job_failed", exc_info=True, id=job.request_id, error=repr(exc))
            await self._release(job, self._backoff(job), "unexpected error")
        finally:
            self._jobs.discard(job)
            self._notify()

    async def _handle(self, job: Job) -> None:
        message = job.message
        request, envelope, problem = _parse(message.body)
        if envelope is not None and envelope.model != self._s.model:
            problem = f"model {envelope.model!r} is not this queue's model"
            envelope = None
        if envelope is None:
            # No id to answer to, or not this queue's model: a poison message. Releasing it
            # with backoff sends it to the dead-letter queue after maxReceiveCount.
            logs.error("message_rejected", message_id=message.message_id, error=problem)
            await self._release(job, self._backoff(job), "unusable message")
            return
        job.request_id = envelope.id
        key = result_key(envelope.model, envelope.id)
        exists = await self._in_thread(self._results.exists, key)
        if exists:
            logs.event("duplicate_delivery", id=envelope.id, receive_count=message.receive_count)
            await self._delete(job)
            return
        if exists is None and self._first("existence_unknown"):
            # Still correct (the conditional write refuses a second result), but a
            # duplicate delivery costs a generation. Said once.
            logs.warning(
                "result_existence_unknown",
                key=key,
                detail="S3 answered 403 to HeadObject: grant s3:ListBucket on the "
                "results bucket (prefix results/<model>/) so duplicates are skipped",
            )
        if request is None:
            error = ResultError(kind=ErrorKind.INVALID_REQUEST, message=str(problem))
            await self._finish(job, self._failed(envelope, message, error))
            return
        if self._too_old(message):
            error = ResultError(kind=ErrorKind.EXPIRED, message=self._expired_message(message))
            await self._finish(job, self._failed(envelope, message, error))
            return
        if self._stopping.is_set():
            await self._release(job, 0, "received while draining")
            return
        result = await self._generate(job, request)
        if result is not None:
            await self._finish(job, result)

    async def _generate(self, job: Job, request: Request) -> Result | None:
        """The result of asking the engine, or None if the message was released."""
        job.phase = Phase.GENERATING
        body = request.request.model_dump(mode="json", exclude_none=True)
        body["model"] = self._s.model  # vLLM serves the stack's name and rejects others
        started = datetime.now(UTC)
        clock = time.monotonic()
        logs.event("generation_started", id=request.id, receive_count=job.message.receive_count)
        heartbeat = job.heartbeat = _Heartbeat(self, job)
        outcome: dict[str, Any] | TransientEngineError | PermanentEngineError
        try:
            outcome = await self._engine.chat_completion(body, request.id, on_retry=self._log_retry(request.id))
        except (TransientEngineError, PermanentEngineError) as exc:
            outcome = exc
        finally:
            # Before anything else touches the message: a late extension must not undo it.
            await heartbeat.stop()
        seconds = time.monotonic() - clock
        if isinstance(outcome, TransientEngineError):
            self._metrics.engine_error()
            self._ready_checked_at = -math.inf  # the engine may be down: check before receiving
            await self._release(job, self._backoff(job), f"engine: {outcome}")
            return None
        if isinstance(outcome, PermanentEngineError):
            error = ResultError(kind=outcome.kind, message=outcome.message, engine_status=outcome.status)
            return self._failed(request, job.message, error, started, seconds)
        return self._succeeded(request, job.message, outcome, started, seconds)

    async def _finish(self, job: Job, result: Result) -> None:
        """Store the result, then delete the message: in this order only."""
        job.phase = Phase.FINISHING
        key = result_key(result.model, result.id)
        try:
            written = await self._in_thread(self._results.put_new, key, result.model_dump_json().encode())
        except AWS_ERRORS as exc:
            logs.error("result_write_failed", id=result.id, error=repr(exc))
            await self._release(job, self._backoff(job), "result not stored")
            return
        if written:
            self._count(result)
            logs.event(
                "result_written",
                id=result.id,
                status=result.status.value,
                key=key,
                generation_seconds=round(result.timings.generation_seconds, 3),
            )
        else:
            logs.event("duplicate_result_kept", id=result.id, key=key)
        await self._delete(job)

    async def _delete(self, job: Job) -> None:
        try:
            owned = await self._in_thread(self._queue.delete, job.message)
        except AWS_ERRORS as exc:
            # The result is stored: a redelivery will find it and delete the duplicate.
            logs.error("delete_failed", id=job.request_id, error=repr(exc))
            return
        logs.event("message_deleted" if owned else "delete_receipt_lost", id=job.request_id)

    async def _release(self, job: Job, seconds: int, reason: str) -> None:
        """Hand the message back to the queue, visible again after ``seconds``."""
        try:
            owned = await self._in_thread(self._queue.change_visibility, job.message, seconds)
        except AWS_ERRORS as exc:
            logs.error("release_failed", id=job.request_id, error=repr(exc))
            return
        logs.event(
            "message_released" if owned else "release_receipt_lost",
            id=job.request_id,
            visible_in_seconds=seconds,
            reason=reason,
            receive_count=job.message.receive_count,
        )

    def _backoff(self, job: Job) -> int:
        return release_backoff(
            job.message.receive_count,
            self._s.release_backoff_base_seconds,
            self._s.release_backoff_max_seconds,
        )

    def _too_old(self, message: Message) -> bool:
        limit = self._s.max_request_age_seconds
        return limit is not None and _age_seconds(message) > limit

    def _expired_message(self, message: Message) -> str:
        return (
            f"the request waited {_age_seconds(message):.0f} s in the queue, over the "
            f"worker's maximum request age of {self._s.max_request_age_seconds:.0f} s"
        )

    def _log_retry(self, request_id: str) -> Callable[[RetryCallState], None]:
        def log(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            logs.warning("engine_retry", id=request_id, attempt=state.attempt_number, error=str(exc))

        return log

    # --- Results -------------------------------------------------------------------------

    def _succeeded(
        self,
        request: Request,
        message: Message,
        response: dict[str, Any],
        started: datetime,
        seconds: float,
    ) -> Result:
        return Result(
            id=request.id,
            model=request.model,
            status=ResultStatus.SUCCEEDED,
            response=response,
            timings=_timings(message, started, seconds),
            receive_count=message.receive_count,
            instance_id=self._metrics.instance_id,
            engine=self._s.engine,
            metadata=request.metadata,
        )

    def _failed(
        self,
        envelope: Envelope | Request,
        message: Message,
        error: ResultError,
        started: datetime | None = None,
        seconds: float = 0.0,
    ) -> Result:
        return Result(
            id=envelope.id,
            model=envelope.model,
            status=ResultStatus.FAILED,
            error=error,
            timings=_timings(message, started or datetime.now(UTC), seconds),
            receive_count=message.receive_count,
            instance_id=self._metrics.instance_id,
            engine=self._s.engine,
            metadata=envelope.metadata,
        )

    def _count(self, result: Result) -> None:
        if result.status is ResultStatus.FAILED:
            self._metrics.failed()
            return
        usage = (result.response or {}).get("usage") or {}
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        self._metrics.succeeded(
            result.timings.queue_wait_seconds,
            result.timings.generation_seconds,
            tokens if isinstance(tokens, int) else None,
        )

    # --- Draining --------------------------------------------------------------------------

    def _begin_drain(self, reason: str, deadline: float) -> None:
        """Stop receiving; finish in-flight work by ``deadline`` (monotonic), release the rest.
        A later, earlier deadline (a spot notice during a scale-in drain) wins."""
        if deadline < self._drain_deadline:
            self._drain_deadline = deadline
        logs.event(
            "draining",
            reason=reason,
            in_flight=len(self._jobs),
            seconds_left=round(self._drain_deadline - time.monotonic(), 1),
        )
        self._stopping.set()
        self._notify()

    async def _drain(self, receiver: asyncio.Task[None]) -> None:
        # The receive in progress is waited for, not cancelled: messages it returns must be
        # released, and a cancelled HTTP call could have taken messages already.
        while (self._jobs or not receiver.done()) and time.monotonic() < self._drain_deadline:
            await self._changed(self._drain_deadline - time.monotonic())
        unfinished = [job for job in self._jobs if job.phase is not Phase.FINISHING]
        for job in unfinished:
            if job.task is not None:
                job.task.cancel()
        pending = [job.task for job in self._jobs if job.task is not None]
        if pending:
            await asyncio.wait(pending, timeout=RELEASE_GRACE_SECONDS)
        if not receiver.done():
            logs.warning(
                "receive_abandoned",
                detail="drain deadline passed during a receive; "
                "anything it took reappears after the visibility timeout",
            )
        logs.event("drained", released=len(unfinished))
        self._drained.set()

    # --- Instance events ---------------------------------------------------------------------

    async def _identify(self) -> None:
        try:
            instance_id = await self._imds.get(INSTANCE_ID_PATH)
        except MetadataUnavailable as exc:
            self._imds_unreachable(exc)
            return
        if instance_id:
            self._metrics.instance_id = instance_id.strip()
        self._imds_reachable = True

    def _imds_unreachable(self, exc: MetadataUnavailable) -> None:
        if self._imds_reachable is None:  # said once, at the first failure
            logs.event(
                "instance_metadata_unreachable",
                error=str(exc),
                detail="not on EC2: no spot or scale-in notices; running normally, instance id is the host name",
            )
        self._imds_reachable = False

    async def _watch_instance(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._s.imds_poll_seconds)
            if self._closing.is_set():
                return
            try:
                await self._poll_instance()
            except Exception as exc:  # keep watching: a missed notice costs more than a log
                logs.error("instance_watch_failed", exc_info=True, error=repr(exc))

    async def _poll_instance(self) -> None:
        try:
            state = await self._imds.state()
        except MetadataUnavailable as exc:
            self._imds_unreachable(exc)
            return
        if self._imds_reachable is False:
            logs.event("instance_metadata_reachable")
            await self._identify()
        self._imds_reachable = True
        self._react(state)

    def _react(self, state: InstanceState) -> None:
        now = time.monotonic()
        if state.spot_interruption_notice and self._first("spot"):
            left = self._s.drain_seconds
            if state.spot_interruption_at is not None:
                to_go = (state.spot_interruption_at - datetime.now(UTC)).total_seconds()
                left = min(left, to_go - self._s.interruption_margin_seconds)
            self._begin_drain("spot_interruption_notice", now + max(0.0, left))
        if state.rebalance_recommended and self._first("rebalance"):
            self._begin_drain("rebalance_recommendation", now + self._s.drain_seconds)
        lifecycle = state.lifecycle_state
        warm = lifecycle if lifecycle is not None and lifecycle.startswith("Warmed:") else None
        # Scale-in: the instance is terminated, or (a warm pool that reuses instances on scale-in)
        # returned to the pool, waiting at Warmed:Pending:Wait for the termination hook. Either
        # way: drain, then complete the hook, or a paid GPU waits out the whole heartbeat.
        returning = warm is not None and self._last_lifecycle_state == "InService"
        if (lifecycle == "Terminated" or returning) and self._first("scale_in"):
            reason = "scale_in_to_warm_pool" if returning else "scale_in"
            self._begin_drain(reason, now + self._s.lifecycle_drain_seconds)
            self._lifecycle_task = asyncio.create_task(self._complete_lifecycle())
        if lifecycle is not None:
            self._last_lifecycle_state = lifecycle
        if warm != self._warm_pool_state:
            # A warm pool instance is being prepared or parked: it must not take work.
            logs.event("warm_pool_paused" if warm else "warm_pool_resumed", lifecycle_state=warm)
            self._warm_pool_state = warm
            self._notify()

    def _first(self, notice: str) -> bool:
        new = notice not in self._notices
        self._notices.add(notice)
        return new

    async def _complete_lifecycle(self) -> None:
        action = await self._lifecycle_action()
        if action is None:
            return
        while not self._drained.is_set():
            try:
                await asyncio.wait_for(self._drained.wait(), self._s.lifecycle_heartbeat_seconds)
            except TimeoutError:
                await self._lifecycle_call(self._autoscaling.heartbeat, action, "heartbeat")
        await self._lifecycle_call(self._autoscaling.complete, action, "completed")

    async def _lifecycle_call(
        self, call: Callable[[LifecycleAction], None], action: LifecycleAction, what: str
    ) -> None:
        try:
            await self._in_thread(call, action)
        except AWS_ERRORS as exc:
            logs.error(f"lifecycle_action_{what}_failed", error=repr(exc), hook=action.hook_name)
            return
        logs.event(f"lifecycle_action_{what}", group=action.group_name, hook=action.hook_name)

    async def _lifecycle_action(self) -> LifecycleAction | None:
        group = self._s.autoscaling_group_name
        if group is None:
            with contextlib.suppress(MetadataUnavailable):
                group = await self._imds.get(ASG_NAME_TAG_PATH)
        hook = self._s.lifecycle_hook_name
        if group is None or hook is None:
            logs.warning(
                "lifecycle_action_not_completed",
                group=group,
                hook=hook,
                detail="set WORKER_LIFECYCLE_HOOK_NAME and enable instance metadata "
                "tags (or WORKER_AUTOSCALING_GROUP_NAME); the hook will time out "
                "with its default result",
            )
            return None
        return LifecycleAction(group.strip(), hook, self._metrics.instance_id)

    # --- Metrics -----------------------------------------------------------------------------

    async def _publish_metrics(self) -> None:
        interval = self._s.metrics_interval_seconds
        next_flush = time.monotonic() + interval
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), min(SAMPLE_SECONDS, interval))
            if self._closing.is_set():
                return
            self._metrics.sample_in_flight(len(self._jobs))
            if time.monotonic() >= next_flush:
                next_flush += interval
                try:
                    await self._flush_metrics()
                except Exception as exc:  # metrics must never stop the worker
                    logs.error("metrics_publish_failed", exc_info=True, error=repr(exc))

    async def _flush_metrics(self) -> None:
        self._metrics.set_engine_queue(await self._engine.queue_size())
        self._metrics.set_endpoint_instances(self._engine.instances())
        now = time.monotonic()
        elapsed, self._last_flush = now - self._last_flush, now
        documents = self._metrics.documents(int(time.time() * 1000), max(elapsed, 0.001))
        await self._in_thread(self._sink.send, documents)


def engine_for(settings: WorkerSettings, session: boto3.Session) -> ServingEngine:
    """The engine beside the worker over HTTP, or the model's SageMaker endpoint."""
    if settings.endpoint_name is not None:  # the settings allow it with engine=sagemaker only
        return SageMakerEngine(
            session,
            settings.endpoint_name,
            timeout_seconds=settings.engine_timeout_seconds,
            max_in_flight=settings.max_in_flight,
            max_in_flight_per_instance=settings.max_in_flight_per_instance,
            retry_attempts=settings.engine_retry_attempts,
            retry_max_wait_seconds=settings.engine_retry_max_wait_seconds,
            refresh_seconds=settings.endpoint_refresh_seconds,
        )
    return EngineClient(
        settings.resolved_engine_url,
        settings.engine_facts,
        timeout_seconds=settings.engine_timeout_seconds,
        max_connections=settings.max_in_flight,
        retry_attempts=settings.engine_retry_attempts,
        retry_max_wait_seconds=settings.engine_retry_max_wait_seconds,
    )


def _engine_target(settings: WorkerSettings) -> dict[str, Any]:
    if settings.endpoint_name is not None:
        return {"endpoint": settings.endpoint_name}
    return {"engine_url": settings.resolved_engine_url}


class _Heartbeat:
    """Keeps a generating message hidden: extends its visibility every heartbeat period.
    Stopped before the message is released or finished, and never mid-call, so an
    extension can never land after (and undo) a release."""

    def __init__(self, worker: Worker, job: Job) -> None:
        self._worker = worker
        self._job = job
        self._stopped = asyncio.Event()
        self._task = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        self._stopped.set()
        await asyncio.shield(self._task)

    async def _beat(self) -> None:
        settings = self._worker._s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), settings.heartbeat_seconds)
            if self._stopped.is_set():
                return
            try:
                owned = await self._worker._in_thread(
                    self._worker._queue.change_visibility,
                    self._job.message,
                    settings.visibility_timeout_seconds,
                )
            except AWS_ERRORS as exc:
                logs.warning("heartbeat_failed", id=self._job.request_id, error=repr(exc))
                continue
            if not owned:
                # Someone else finished it, or it was purged: stop spending the GPU on it.
                self._job.lost = True
                logs.warning("receipt_lost", id=self._job.request_id)
                if self._job.task is not None:
                    self._job.task.cancel()
                return
            logs.debug(
                "visibility_extended",
                id=self._job.request_id,
                seconds=settings.visibility_timeout_seconds,
            )


def release_backoff(
    receive_count: int,
    base_seconds: float,
    max_seconds: float,
    uniform: Callable[[float, float], float] = random.uniform,
) -> int:
    """Visibility (whole seconds) of a message released after a transient failure:
    exponential in its receive count, capped, jittered to 50-100% so that messages failed
    together do not all come back together."""
    ceiling = min(max_seconds, base_seconds * 2 ** (receive_count - 1))
    return math.ceil(ceiling * uniform(0.5, 1.0))


def _parse(body: str) -> tuple[Request | None, Envelope | None, str | None]:
    """The request, or what can be read of it (id and model) and why the rest failed."""
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, None, f"body is not JSON: {exc}"
    try:
        request = Request.model_validate(document)
    except ValidationError as exc:
        problem = _validation_message(exc)
    else:
        return (
            request,
            Envelope(id=request.id, model=request.model, metadata=request.metadata),
            None,
        )
    for candidate in (document, _without_metadata(document)):
        try:
            return None, Envelope.model_validate(candidate), problem
        except ValidationError:
            continue
    return None, None, problem


def _without_metadata(document: Any) -> Any:
    if isinstance(document, dict):
        return {k: v for k, v in document.items() if k != "metadata"}
    return document


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors())


def _age_seconds(message: Message) -> float:
    return (datetime.now(UTC) - message.sent_at).total_seconds()


def _timings(message: Message, started: datetime, generation_seconds: float) -> Timings:
    return Timings(
        sent_at=message.sent_at,
        started_at=started,
        finished_at=datetime.now(UTC),
        queue_wait_seconds=max(0.0, (started - message.sent_at).total_seconds()),
        generation_seconds=generation_seconds,
    )
