"""Client of the asynchronous path (put requests on a model's queue, read their results)
and of the synchronous path of models on a SageMaker endpoint (``invoke``).

Light on purpose (boto3, pydantic and the standard library only) so producers can use it
anywhere::

    from model_server.client import QueueClient, chat

    client = QueueClient(queue_url, results_bucket)
    ids = client.submit_many([chat("chat", "Hello"), chat("chat", "Bonjour")])
    results = client.wait("chat", ids, timeout_seconds=600)

From the command line (``--help`` on each command)::

    python -m model_server.client ask    --model chat --prompt "Hello"
    python -m model_server.client submit --model chat --prompt "Hello"   # prints the id
    python -m model_server.client submit --model chat --file requests.jsonl
    python -m model_server.client wait   --model chat --timeout 600 ID [ID ...]
    python -m model_server.client get    --model chat ID

``--queue-url`` and ``--results-bucket`` default to LLM_SERVING_QUEUE_URL and
LLM_SERVING_RESULTS_BUCKET. AWS access is boto3's usual chain (AWS_ENDPOINT_URL works).

A model served by a SageMaker endpoint also answers synchronously: ``InvokeEndpoint``,
signed with SigV4 by boto3, needing ``sagemaker:InvokeEndpoint`` on the endpoint::

    from model_server.client import invoke

    answer = invoke("chat-endpoint", {"messages": [{"role": "user", "content": "Hello"}]})

    python -m model_server.client invoke --endpoint chat-endpoint --prompt "Hello" [--max-tokens 64]

The container must answer within 60 s (SageMaker's limit for InvokeEndpoint): send long
generations through the queue. docs/worker.md#calling-a-sagemaker-model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from model_server import sagemaker_runtime
from model_server.messages import MAX_MESSAGE_BYTES, Request, Result, result_key
from model_server.queue_url import session_for

BATCH_ENTRIES = 10
"""SQS accepts at most 10 messages per SendMessageBatch..."""
BATCH_BYTES = MAX_MESSAGE_BYTES
"""...and at most 1 MiB in one batch, all messages together."""
SEND_ATTEMPTS = 3
"""Attempts for batch entries SQS failed on its side (its own fault, not the message's)."""
RESULT_READERS = 8
"""Concurrent result reads while waiting on many ids."""
FIRST_POLL_SECONDS = 0.25
"""First pause while waiting for results; doubled up to the caller's poll period."""


class SubmitError(Exception):
    """Some requests could not be queued; ``failures`` maps their ids to SQS's reason."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__(f"{len(failures)} request(s) not queued: {failures}")
        self.failures = failures


class ResultsTimeout(TimeoutError):
    """Not every result arrived in time; ``results`` holds those that did."""

    def __init__(self, missing: list[str], results: dict[str, Result]) -> None:
        super().__init__(f"no result yet for {len(missing)} request(s): {missing[:10]}")
        self.missing = missing
        self.results = results


def chat(
    model: str,
    prompt: str,
    *,
    request_id: str | None = None,
    system: str | None = None,
    metadata: dict[str, str] | None = None,
    **params: Any,
) -> Request:
    """A one-turn chat request; ``params`` are chat completion fields (max_tokens, ...)."""
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": prompt})
    return Request.model_validate(
        {
            "id": request_id if request_id is not None else uuid.uuid4().hex,
            "model": model,
            "request": {"messages": messages, **params},
            "metadata": metadata if metadata is not None else {},
            "submitted_at": datetime.now(UTC),
        }
    )


class QueueClient:
    """Sends to ``queue_url`` and reads from ``results_bucket``; either may be omitted by
    a client that only does the other."""

    def __init__(self, queue_url: str | None = None, results_bucket: str | None = None) -> None:
        session = session_for(queue_url)
        self._sqs = session.client("sqs", config=Config(retries={"mode": "standard"}))
        self._s3 = session.client(
            "s3", config=Config(retries={"mode": "standard"}, max_pool_connections=RESULT_READERS)
        )
        self._queue_url = queue_url
        self._results_bucket = results_bucket

    @property
    def queue_url(self) -> str:
        if self._queue_url is None:
            raise ValueError("this client has no queue_url: it cannot send")
        return self._queue_url

    @property
    def results_bucket(self) -> str:
        if self._results_bucket is None:
            raise ValueError("this client has no results_bucket: it cannot read results")
        return self._results_bucket

    # --- Sending ---------------------------------------------------------------------

    def submit(self, request: Request) -> str:
        body = _body(request)
        self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)
        return request.id

    def submit_many(self, requests: Iterable[Request]) -> list[str]:
        """Queue every request in batches; their ids, in order. Raises ``SubmitError``
        naming those SQS refused (after retrying the ones it failed on its side)."""
        requests = list(requests)
        failures: dict[str, str] = {}
        for batch in _batches(requests):
            failures.update(self._send_batch(batch))
        if failures:
            raise SubmitError(failures)
        return [r.id for r in requests]

    def _send_batch(self, batch: list[tuple[Request, str]]) -> dict[str, str]:
        """Failures by request id: entries SQS refused, and entries it kept failing on."""
        pending = {str(i): item for i, item in enumerate(batch)}
        failures: dict[str, str] = {}
        for attempt in range(SEND_ATTEMPTS):
            entries = [{"Id": key, "MessageBody": body} for key, (_, body) in pending.items()]
            response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed = {f["Id"]: f for f in response.get("Failed", [])}
            for key, failure in failed.items():
                failures[pending[key][0].id] = f"{failure.get('Code')}: {failure.get('Message')}"
            # The sender's fault (e.g. a bad body) is final; SQS's own is worth retrying.
            pending = {k: pending[k] for k, f in failed.items() if not f.get("SenderFault")}
            if not pending:
                break
            for request, _ in pending.values():
                failures.pop(request.id)
            if attempt + 1 < SEND_ATTEMPTS:
                time.sleep(0.2 * 2**attempt)
        return failures

    # --- Reading -----------------------------------------------------------------------

    def get(self, model: str, request_id: str) -> Result | None:
        """The result of ``request_id``, or None while there is none."""
        try:
            response = self._s3.get_object(Bucket=self.results_bucket, Key=result_key(model, request_id))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None
            if code in ("AccessDenied", "403"):
                # S3 says 403, not 404, for a missing key to whoever lacks s3:ListBucket.
                raise PermissionError(
                    f"S3 denied reading {result_key(model, request_id)} in {self.results_bucket}: "
                    "reading results needs s3:GetObject, and s3:ListBucket on the bucket so "
                    "that a result not written yet reads as missing rather than forbidden"
                ) from exc
            raise
        return Result.model_validate_json(response["Body"].read())

    def wait(
        self,
        model: str,
        request_ids: Sequence[str],
        *,
        timeout_seconds: float,
        poll_seconds: float = 2.0,
    ) -> dict[str, Result]:
        """Every result, by id, once all have arrived; ``ResultsTimeout`` otherwise.
        Each poll reads the missing results only (one GET each, ``RESULT_READERS`` at once)."""
        deadline = time.monotonic() + timeout_seconds
        results: dict[str, Result] = {}
        # Start fast for short generations, back off to ``poll_seconds`` for long ones.
        pause = min(FIRST_POLL_SECONDS, poll_seconds)
        with ThreadPoolExecutor(max_workers=RESULT_READERS) as pool:
            while True:
                missing = [i for i in request_ids if i not in results]
                found = pool.map(lambda rid: (rid, self.get(model, rid)), missing)
                results.update({rid: r for rid, r in found if r is not None})
                missing = [i for i in request_ids if i not in results]
                if not missing:
                    return results
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ResultsTimeout(missing, results)
                time.sleep(min(pause, left))
                pause = min(poll_seconds, pause * 2)


def invoke(endpoint_name: str, body: dict[str, Any], session: Any = None) -> dict[str, Any]:
    """The chat.completion a SageMaker endpoint answers to ``body`` (an OpenAI chat body),
    through InvokeEndpoint. botocore's errors propagate: ``ModelError`` (the container's
    own refusal, or no answer within 60 s), ``ValidationError`` (unknown endpoint), ..."""
    session = session if session is not None else session_for(None)
    runtime = session.client(
        "sagemaker-runtime",
        config=Config(retries={"mode": "standard"}, read_timeout=sagemaker_runtime.INVOKE_READ_TIMEOUT_SECONDS),
    )
    return sagemaker_runtime.invoke(runtime, endpoint_name, {**body, "stream": False})


def _body(request: Request) -> str:
    body = request.model_dump_json(exclude_none=True)
    if len(body.encode()) > MAX_MESSAGE_BYTES:
        raise ValueError(f"request {request.id} is over SQS's 1 MiB message limit")
    return body


def _batches(requests: list[Request]) -> Iterator[list[tuple[Request, str]]]:
    batch: list[tuple[Request, str]] = []
    size = 0
    for request in requests:
        body = _body(request)
        length = len(body.encode())
        if batch and (len(batch) == BATCH_ENTRIES or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((request, body))
        size += length
    if batch:
        yield batch


# --- Command line -------------------------------------------------------------------------

QUEUE_URL_ENV = "LLM_SERVING_QUEUE_URL"
RESULTS_BUCKET_ENV = "LLM_SERVING_RESULTS_BUCKET"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_server.client", description="Queue requests, read results.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, queue: bool, bucket: bool) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--model", required=True, help="the model's name in the stack")
        if queue:
            default = os.environ.get(QUEUE_URL_ENV)
            sub.add_argument("--queue-url", default=default, help=f"default: ${QUEUE_URL_ENV}")
        if bucket:
            default = os.environ.get(RESULTS_BUCKET_ENV)
            sub.add_argument("--results-bucket", default=default, help=f"default: ${RESULTS_BUCKET_ENV}")
        return sub

    for name, help_text, bucket in (
        ("submit", "queue requests; prints their ids", False),
        ("ask", "queue one prompt, wait, print the answer", True),
    ):
        sub = command(name, help_text, queue=True, bucket=bucket)
        source = sub.add_mutually_exclusive_group(required=True)
        source.add_argument("--prompt", help="one user message")
        if name == "submit":
            source.add_argument("--file", help="JSON lines: requests, or chat completion bodies")
        sub.add_argument("--id", dest="request_id", help="request id (default: a random one)")
        sub.add_argument("--max-tokens", type=int)
        if name == "ask":
            sub.add_argument("--timeout", type=float, default=600.0, help="seconds (600)")
    wait = command("wait", "wait for results; prints them as JSON lines", False, True)
    wait.add_argument("ids", nargs="+")
    wait.add_argument("--timeout", type=float, default=600.0, help="seconds (600)")
    get = command("get", "print one result, if there is one", False, True)
    get.add_argument("id")
    invoke = commands.add_parser(
        "invoke",
        help="ask a SageMaker endpoint directly (InvokeEndpoint, 60 s limit); print the answer",
        description="Ask a model on a SageMaker endpoint synchronously and print its answer.",
    )
    invoke.add_argument("--endpoint", required=True, help="the SageMaker endpoint's name")
    invoke.add_argument("--prompt", required=True, help="one user message")
    invoke.add_argument("--system", help="a system message")
    invoke.add_argument("--max-tokens", type=int)
    return parser


def _requests_from(args: argparse.Namespace) -> list[Request]:
    params = {"max_tokens": args.max_tokens} if args.max_tokens is not None else {}
    if args.prompt is not None:
        return [chat(args.model, args.prompt, request_id=args.request_id, **params)]
    requests = []
    with open(args.file, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            document = json.loads(line)
            if "request" not in document:  # a bare chat completion body
                document = {"id": uuid.uuid4().hex, "model": args.model, "request": document}
            requests.append(Request.model_validate(document))
    return requests


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "invoke":
        return _invoke(args)
    for needed in ("queue_url", "results_bucket"):
        if hasattr(args, needed) and not getattr(args, needed):
            flag = needed.replace("_", "-")
            print(f"--{flag} is required (or set its environment variable)", file=sys.stderr)
            return 2
    client = QueueClient(getattr(args, "queue_url", None), getattr(args, "results_bucket", None))
    if args.command == "submit":
        for request_id in client.submit_many(_requests_from(args)):
            print(request_id)
        return 0
    if args.command == "get":
        result = client.get(args.model, args.id)
        if result is None:
            print(f"no result for {args.id} yet", file=sys.stderr)
            return 1
        print(result.model_dump_json())
        return 0
    if args.command == "ask":
        [request] = _requests_from(args)
        client.submit(request)
        return _print_waited(client, args.model, [request.id], args.timeout, answer_only=True)
    return _print_waited(client, args.model, args.ids, args.timeout, answer_only=False)


def _invoke(args: argparse.Namespace) -> int:
    messages = [{"role": "system", "content": args.system}] if args.system is not None else []
    messages.append({"role": "user", "content": args.prompt})
    body: dict[str, Any] = {"messages": messages}
    if args.max_tokens is not None:
        body["max_tokens"] = args.max_tokens
    try:
        answer = invoke(args.endpoint, body)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        original = exc.response.get("OriginalMessage")
        detail = f" (the model said: {original})" if original else ""
        print(f"{error.get('Code')}: {error.get('Message')}{detail}", file=sys.stderr)
        return 1
    print(answer["choices"][0]["message"]["content"])
    return 0


def _print_waited(client: QueueClient, model: str, ids: list[str], timeout: float, answer_only: bool) -> int:
    try:
        results = client.wait(model, ids, timeout_seconds=timeout)
    except ResultsTimeout as exc:
        for result in exc.results.values():
            print(result.model_dump_json())
        print(f"timed out: no result for {', '.join(exc.missing)}", file=sys.stderr)
        return 1
    for request_id in ids:
        result = results[request_id]
        if answer_only and result.response is not None:
            print(result.response["choices"][0]["message"]["content"])
        elif answer_only and result.error is not None:
            print(f"failed ({result.error.kind.value}): {result.error.message}", file=sys.stderr)
            return 1
        else:
            print(result.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
