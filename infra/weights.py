"""``llm-serving weights``: stage the stack's models into its weights bucket, and prune the
revisions neither the stack file nor the deployed stack uses any more.

Staging runs the stager (``model_server.weights.stage``) for each model: in this process,
or, with ``--in-aws``, as a build of the stack's staging project (``WeightsStaging``) whose
logs are streamed back here. Both run the same code; the build's status is the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from components.weights_staging import build_variables
from infra.config import HUGGING_FACE_TOKEN_KEY, StackConfig, namespace_values, parse_stack_config, region_of
from infra.plan import read_stack_config
from model_server.weights import layout

S3_STANDARD_USD_PER_GB_MONTH = 0.023
"""S3 Standard storage, first 50 TB a month, US East (N. Virginia) (docs/reference.md#s3-and-sns)."""
BUILD_POLL_SECONDS = 5.0
LOG_QUIET_READS = 2
"""Once the build is complete its log is read until this many reads in a row, a poll apart,
bring nothing new: the last lines can reach CloudWatch Logs after the build reports complete,
and GetLogEvents can answer empty while events are on their way (docs/reference.md#codebuild)."""
LOG_TAIL_SECONDS = 30.0
"""The most the command waits for that tail: the build's status is known by then, and a log
still growing is left for CloudWatch Logs (a bound, not a measured delay)."""
IN_PROGRESS_KEPT = timedelta(hours=24)
"""Prune keeps an unmarked prefix written to within this long: it may be a stage still running,
which writes a file every few minutes and whose build stops after 8 hours
(``components/weights_staging.py``); a day leaves room for a slow local copy. An older
unmarked prefix was abandoned, and goes."""
DELETE_BATCH = 1000
"""DeleteObjects takes at most 1,000 keys per request (docs/reference.md#s3-and-sns)."""


class WeightsError(Exception):
    """A usage problem or a failed AWS call: one line naming it and the fix."""


STAGING_RIGHTS = "the caller needs the weightsStagingStartPolicy output's rights"
PRUNE_RIGHTS = "the caller needs s3:ListBucket, s3:GetObject and s3:DeleteObject on the weights bucket"
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_BAD_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
_MISSING = frozenset({"ResourceNotFoundException", "NoSuchBucket"})


@contextmanager
def _aws(action: str, denied: str, missing: str | None = None, then: str = "") -> Iterator[None]:
    """Turn an AWS error of ``action`` into a WeightsError of one line: what failed and the fix
    (``denied`` when access was denied, ``missing`` when the resource does not exist), then
    ``then``."""
    try:
        yield
    except NoCredentialsError:
        raise WeightsError(
            f"{action}: no AWS credentials: configure them (`aws configure`, AWS_PROFILE, or the CI role){then}"
        ) from None
    except ClientError as e:
        details = e.response.get("Error", {})
        code = str(details.get("Code", "unknown error"))
        message = " ".join(str(details.get("Message", "")).split())
        said = f"{code}: {message}" if message else code
        if code in _DENIED:
            raise WeightsError(f"{action} was denied ({said}): {denied}{then}") from None
        if code in _BAD_CREDENTIALS:
            raise WeightsError(
                f"{action} failed ({said}): the AWS credentials are expired or wrong: renew them{then}"
            ) from None
        fix = missing if missing is not None and code in _MISSING else "fix what AWS names, then rerun"
        raise WeightsError(f"{action} failed ({said}): {fix}{then}") from None
    except BotoCoreError as e:
        said = " ".join(str(e).split())
        raise WeightsError(f"{action} failed ({said}): check the network and the region, then rerun{then}") from None


@dataclass(frozen=True)
class StageTarget:
    name: str
    """The model's name in the stack file."""
    model_id: str
    revision: str

    @property
    def prefix(self) -> str:
        return layout.prefix(self.model_id, self.revision)


def load_config(stack: str, project_dir: Path) -> tuple[StackConfig, str | None]:
    """The stack file's validated config and its region (``aws:region``, else the environment's)."""
    values, _secrets = read_stack_config(stack, project_dir)
    raw = namespace_values(values)
    raw.pop(HUGGING_FACE_TOKEN_KEY, None)  # a secret: never part of the config model
    region = region_of(values)
    return parse_stack_config(raw, region), region


def stage_targets(config: StackConfig, stack: str, model: str | None) -> list[StageTarget]:
    """The named model, or every model whose weights come from S3."""
    if model is not None:
        if model not in config.models:
            raise WeightsError(f"no model {model!r} in Pulumi.{stack}.yaml; its models: {', '.join(config.models)}")
        names = [model]
    else:
        names = [n for n in config.models if config.weights_source(n) == "s3"]
    return [StageTarget(n, config.models[n].model_id, config.models[n].revision) for n in names]


# ----------------------------------------------------------------------------- local


def stage_locally(
    targets: Iterable[StageTarget], bucket: str, out: Callable[[str], None], err: Callable[[str], None]
) -> bool:
    """Run the stager in this process for each target; True when every one is complete."""
    import logging

    from model_server.weights.stage import StageError, Stager

    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    ok = True
    for target in targets:
        out(f"{target.name}: {target.model_id} at {target.revision} -> s3://{bucket}/{target.prefix}")
        try:
            Stager(bucket=bucket, model_id=target.model_id, revision=target.revision, out=out).run()
        except StageError as e:
            err(f"{target.name}: {e}")
            ok = False
    return ok


# ----------------------------------------------------------------------------- in AWS


@dataclass
class _LogCursor:
    group: str | None = None
    stream: str | None = None
    token: str | None = None


def _print_new_events(logs: Any, cursor: _LogCursor, out: Callable[[str], None]) -> int:
    """Print the build log's events since the last call (none until CodeBuild made the stream);
    return how many."""
    printed = 0
    if cursor.group is None or cursor.stream is None:
        return printed
    while True:
        request: dict[str, Any] = {"logGroupName": cursor.group, "logStreamName": cursor.stream, "startFromHead": True}
        if cursor.token is not None:
            request["nextToken"] = cursor.token
        try:
            page = logs.get_log_events(**request)
        except logs.exceptions.ResourceNotFoundException:
            return printed  # the stream appears once the build's container starts
        for event in page.get("events", []):
            out(str(event.get("message", "")).rstrip("\n"))
            printed += 1
        token = page.get("nextForwardToken")
        if token is None or token == cursor.token:
            return printed  # GetLogEvents returns the token it was given when there is nothing newer
        cursor.token = token


def _print_log_tail(
    logs: Any,
    cursor: _LogCursor,
    out: Callable[[str], None],
    poll: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> bool:
    """Once the build is complete: read its log until ``LOG_QUIET_READS`` reads in a row bring
    nothing, for at most ``LOG_TAIL_SECONDS``. True when the log went quiet."""
    deadline = clock() + LOG_TAIL_SECONDS
    quiet = 0
    while True:
        quiet = 0 if _print_new_events(logs, cursor, out) else quiet + 1
        if quiet >= LOG_QUIET_READS:
            return True
        if clock() >= deadline:
            return False
        sleep(poll)


def stage_in_aws(
    codebuild: Any,
    logs: Any,
    project: str,
    target: StageTarget,
    out: Callable[[str], None],
    poll_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Start a build of ``project`` for ``target``, print its log as it comes, and return the
    build's final status (``SUCCEEDED``, ``FAILED``, ``FAULT``, ``TIMED_OUT``, ``STOPPED``).

    The build writes the project's bucket (its ``WEIGHTS_BUCKET``), the only one its role may write."""
    variables = build_variables(target.model_id, target.revision)
    with _aws(
        f"codebuild:StartBuild of {project}",
        STAGING_RIGHTS,
        missing="the stack has no such staging project: deploy it, or pass its current outputs (--outputs)",
    ):
        build = codebuild.start_build(projectName=project, environmentVariablesOverride=variables)["build"]
    build_id = build["id"]
    out(
        f"{target.name}: started build {build_id} of {project} "
        f"(stop it with `aws codebuild stop-build --id {build_id}`)"
    )
    running = f"; build {build_id} keeps running: watch it with `aws codebuild batch-get-builds --ids {build_id}`"
    poll = BUILD_POLL_SECONDS if poll_seconds is None else poll_seconds
    cursor = _LogCursor()
    while True:
        with _aws(f"codebuild:BatchGetBuilds of {build_id}", STAGING_RIGHTS, then=running):
            [build] = codebuild.batch_get_builds(ids=[build_id])["builds"]
        log_location = build.get("logs", {})
        cursor.group = log_location.get("groupName", cursor.group)
        cursor.stream = log_location.get("streamName", cursor.stream)
        reading = f"logs:GetLogEvents of {cursor.group} {cursor.stream}"
        if not build.get("buildComplete"):
            with _aws(reading, STAGING_RIGHTS, then=running):
                _print_new_events(logs, cursor, out)
            sleep(poll)
            continue
        status = str(build.get("buildStatus"))
        try:
            with _aws(reading, STAGING_RIGHTS):
                if not _print_log_tail(logs, cursor, out, poll, sleep, clock):
                    out(f"{target.name}: the log may go on in CloudWatch Logs: {cursor.group} {cursor.stream}")
        except WeightsError as e:  # the status is known: report it all the same
            out(f"{target.name}: the rest of the log is not shown: {e}")
        out(f"{target.name}: build {build_id} {status}")
        return status


# ----------------------------------------------------------------------------- prune


_NO_BUCKET = "no such bucket: check --bucket, or the stack's weightsBucket output"


@dataclass
class RevisionPrefix:
    prefix: str
    keys: list[str] = field(default_factory=list)
    size: int = 0
    complete: bool = False
    newest: datetime | None = None
    """When its newest object was written."""


def revision_prefix(key: str) -> str | None:
    """The ``<modelId>/<revision>/`` a key lies under: the path up to its first segment that
    is a commit (None for a key outside the layout)."""
    parts = key.split("/")
    for i, part in enumerate(parts[:-1]):
        if i >= 1 and layout.COMMIT_PATTERN.fullmatch(part):
            return "/".join(parts[: i + 1]) + "/"
    return None


def bucket_revisions(s3: Any, bucket: str) -> tuple[dict[str, RevisionPrefix], list[str]]:
    """Every revision prefix in the bucket with its objects, and the keys outside the layout."""
    found: dict[str, RevisionPrefix] = {}
    outside: list[str] = []
    with _aws(f"s3:ListBucket (ListObjectsV2) of s3://{bucket}", PRUNE_RIGHTS, missing=_NO_BUCKET):
        pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            prefix = revision_prefix(key)
            if prefix is None:
                outside.append(key)
                continue
            entry = found.setdefault(prefix, RevisionPrefix(prefix))
            entry.keys.append(key)
            entry.size += int(item["Size"])
            entry.complete = entry.complete or key == prefix + layout.MARKER
            modified = item.get("LastModified")
            if isinstance(modified, datetime) and (entry.newest is None or modified > entry.newest):
                entry.newest = modified
    return found, outside


def deployed_prefixes(models: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The revision prefixes the deployed stack's models read: ``models.<name>.weights.uri`` of
    the stack's outputs (``s3://<bucket>/<modelId>/<revision>/``, infra/program.py) for each
    model whose weights come from S3."""
    found = set()
    for name, model in models.items():
        weights = model.get("weights")
        if not isinstance(weights, Mapping) or weights.get("source") != "s3":
            continue
        uri = weights.get("uri")
        prefix = uri.removeprefix("s3://").partition("/")[2] if isinstance(uri, str) else ""
        if not isinstance(uri, str) or not uri.startswith("s3://") or revision_prefix(prefix + "f") != prefix:
            raise WeightsError(
                f"the deployed outputs give model {name} weights.uri {uri!r}, not s3://<bucket>/<modelId>/<revision>/: "
                "pass the outputs of `pulumi stack output --json` as they are"
            )
        found.add(prefix)
    return found


@dataclass
class PrunePlan:
    unused: list[RevisionPrefix]
    """Named by neither the stack file nor the deployed stack, and not in progress: to delete."""
    deployed: list[RevisionPrefix]
    """Kept: the deployed stack reads them though the stack file names them no more (a revision
    changed and staged, not yet deployed)."""
    in_progress: list[RevisionPrefix]
    """Kept: unmarked, and written to within ``IN_PROGRESS_KEPT``."""


def plan_prune(
    found: Mapping[str, RevisionPrefix], config: StackConfig, deployed: set[str], now: datetime
) -> PrunePlan:
    """What prune deletes and what it keeps, beyond what the stack file names."""
    named = {layout.prefix(m.model_id, m.revision) for m in config.models.values()}
    plan = PrunePlan([], [], [])
    for prefix in sorted(set(found) - named):
        revision = found[prefix]
        if prefix in deployed:
            plan.deployed.append(revision)
        elif not revision.complete and revision.newest is not None and now - revision.newest < IN_PROGRESS_KEPT:
            plan.in_progress.append(revision)
        else:
            plan.unused.append(revision)
    return plan


def delete_revision(s3: Any, bucket: str, revision: RevisionPrefix) -> None:
    """Delete the marker alone and confirm it is gone, then the rest: a prefix half deleted is
    never taken for a complete one. DeleteObjects promises no order within a request and
    answers each key on its own (docs/reference.md#s3-and-sns), so the marker is not in one."""
    marker = revision.prefix + layout.MARKER
    if marker in revision.keys:
        with _aws(f"s3:DeleteObject of s3://{bucket}/{marker}", PRUNE_RIGHTS):
            s3.delete_object(Bucket=bucket, Key=marker)
        with _aws(f"s3:GetObject (HeadObject) of s3://{bucket}/{marker}", PRUNE_RIGHTS):
            still_there = _exists(s3, bucket, marker)
        if still_there:
            raise WeightsError(
                f"s3://{bucket}/{marker} is still there after DeleteObject: nothing else of the prefix was "
                "deleted; rerun to finish"
            )
    keys = sorted(k for k in revision.keys if k != marker)
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        with _aws(f"s3:DeleteObject (DeleteObjects) in s3://{bucket}/{revision.prefix}", PRUNE_RIGHTS):
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        errors = answer.get("Errors", [])
        if errors:
            first = errors[0]
            why = f"{first.get('Code')} {first.get('Message', '')}".rstrip()
            raise WeightsError(
                f"S3 refused to delete {len(errors)} objects of s3://{bucket}/{revision.prefix}, e.g. "
                f"{first.get('Key')}: {why}; rerun to finish"
            )


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def monthly_usd(size_bytes: int) -> float:
    return size_bytes / 1e9 * S3_STANDARD_USD_PER_GB_MONTH
