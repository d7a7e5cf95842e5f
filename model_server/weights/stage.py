"""Copy one model's pinned revision from the Hugging Face Hub into its S3 prefix.

``python -m model_server.weights stage --bucket B --model-id ID --revision SHA`` runs it
(locally, or in the staging task in AWS: the same code). What it guarantees:

- **What the engines load, and only that.** ``select_files_to_stage`` leaves out what neither
  TGI nor vLLM reads from a model folder: everything under ``original/`` (Meta's own
  checkpoint in its Llama repositories: 16 GB for Llama-3.1-8B) and, when the repository has
  safetensors weights, the same weights in other formats (``pytorch_model*.bin``,
  ``tf_model.h5``, ...). The run says what it skipped; the marker lists it.
- **Complete or unmarked.** Every file to stage is downloaded with huggingface_hub, checked
  against the Hub's checksum (sha256 for LFS files, the git blob id otherwise), uploaded with
  boto3's managed transfer (multipart, concurrent), and confirmed in S3. Only then is the
  marker (``layout.MARKER``) written, listing every file with its key, size and checksum,
  and every skipped one with its path and size. A run that dies leaves no marker, so readers
  never use a half copy.
- **Resumable.** Each object carries the Hub's checksum in its metadata; a rerun skips the
  files already in S3 with the same size and checksum, and reuses files a killed run had
  fully downloaded. (huggingface_hub resumes an interrupted download only within the same
  process: it discards a partial file when its process dies; docs/reference.md#hugging-face-hub.)
- **Idempotent.** With the marker already there and matching (every file it lists in S3 with
  its size and, in the object's metadata, its checksum), a run transfers nothing.
- **Bounded disk.** Files go through a local working folder a few at a time, each deleted
  once uploaded, within a disk budget (the free space by default): a task with a 128 GB
  disk copies a model of any size.
- **Progress lines** (bytes done of total, rate, time left) every few seconds: it runs in CI
  logs and AWS task logs, not on a terminal.

The token comes from ``HF_TOKEN`` in the environment only (never a file: huggingface_hub's
own token file is ignored). ``HF_ENDPOINT`` and ``AWS_ENDPOINT_URL`` point it elsewhere
(tests use a fake Hub and moto). Every failure is one line naming the problem and the fix.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from model_server.weights import layout

COMMIT_PATTERN = layout.COMMIT_PATTERN
DEFAULT_HUB = layout.HUB_URL
DEFAULT_PARALLEL_FILES = layout.DEFAULT_PARALLEL_FILES
PROGRESS_SECONDS = 10.0
CHECKSUM_METADATA = "hub-checksum"
"""S3 user metadata (``x-amz-meta-hub-checksum``): ``sha256:<hex>`` or ``git-sha1:<hex>``."""
MULTIPART_CHUNK_BYTES = 64 * 1024 * 1024
"""Part size of uploads (and the size from which an upload is multipart): large parts keep
the number of requests low; S3 takes 5 MiB to 5 GiB per part (docs/reference.md#s3-and-sns)."""
MAX_PARTS = 10_000
"""S3's maximum number of parts in one multipart upload: larger files get larger parts."""
UPLOAD_CONCURRENCY = 8
"""Parts of one file uploaded at once (boto3's default is 10; several files run at once)."""
DISK_RESERVE_BYTES = 1024**3
"""Free space left untouched in the working folder (logs, the OS, huggingface_hub's metadata)."""
RATE_WINDOW_SECONDS = 30.0
META_CHECKPOINT_FOLDER = "original/"
"""Meta's own checkpoint in its Llama repositories (``consolidated.*.pth``, ``params.json``,
``tokenizer.model``): neither engine reads it, vLLM's default ``ignore_patterns`` names it
(docs/reference.md#hugging-face-hub). Never staged."""
OTHER_WEIGHT_SUFFIXES = (
    ".bin", ".pth", ".pt", ".ckpt",  # PyTorch pickles: pytorch_model*.bin, consolidated.*.pth
    ".h5", ".msgpack",  # TensorFlow (tf_model.h5), Flax (flax_model.msgpack)
    ".ot",  # rust-bert (rust_model.ot)
    ".gguf",  # llama.cpp
    ".onnx", ".onnx_data", ".onnx.data",  # ONNX, with its external weights
    ".tflite", ".mlmodel",  # TensorFlow Lite, Core ML
)  # fmt: skip
"""Weight files in formats other than safetensors, left out when the repository's top level
has ``*.safetensors``: TGI and vLLM then read those and no other weight file; without them
the ``.bin`` / ``.pt`` files are what both load, so nothing is left out
(docs/reference.md#hugging-face-hub). A ``*.safetensors`` file is never left out."""


class StageError(Exception):
    """A problem the user can fix; its message is one line that says how."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class HubFile:
    path: str
    """Path in the repository (``model-00001-of-00004.safetensors``)."""
    size: int
    checksum: str
    """``sha256:<hex>`` for LFS files (the Hub's LFS oid), ``git-sha1:<hex>`` for the others
    (the git blob id): what the Hub itself serves as the file's ETag."""


@dataclass
class StageResult:
    bucket: str
    prefix: str
    files: list[HubFile]
    """The files staged (listed in the marker's ``files``)."""
    skipped: list[HubFile] = field(default_factory=list)
    """The files of the repository this run left out (``select_files_to_stage``); empty when the
    copy was already complete (its marker's ``skipped`` lists them)."""
    uploaded: list[str] = field(default_factory=list)
    """Paths uploaded by this run (empty when everything was already there)."""
    uploaded_bytes: int = 0
    already_complete: bool = False
    peak_disk_bytes: int = 0
    """The most bytes of weights the working folder held at once (within the disk budget)."""

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def check_revision(revision: str) -> None:
    if not COMMIT_PATTERN.fullmatch(revision):
        raise StageError(
            f"revision {revision!r} is not a full commit hash: pin the 40-character commit "
            "(the Hub's 'Files and versions' tab, or `git ls-remote` of the repository)",
            exit_code=2,
        )


def normalize_prefix(prefix: str | None, model_id: str, revision: str) -> str:
    """The key prefix to copy into: ``layout.prefix`` unless another one is given."""
    if prefix is None:
        return layout.prefix(model_id, revision)
    prefix = prefix.strip("/")
    if not prefix:
        raise StageError("--prefix must not be empty: leave it out to use <modelId>/<revision>/", exit_code=2)
    return prefix + "/"


# ----------------------------------------------------------------------------- progress


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Bytes downloaded and uploaded, shared by the transfer threads; a line on demand.

    The work of a file is its download plus its upload, so "done" counts the mean of the two
    and the rate is in model bytes per second through the whole pipeline."""

    def __init__(self, total_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total_bytes
        self.downloaded = 0
        self.uploaded = 0
        self.files_done = 0
        self.files_total = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float]] = deque()

    def add_downloaded(self, n: int) -> None:
        with self._lock:
            self.downloaded += n

    def add_uploaded(self, n: int) -> None:
        with self._lock:
            self.uploaded += n

    def file_done(self) -> None:
        with self._lock:
            self.files_done += 1

    def line(self) -> str:
        with self._lock:
            now = self._clock()
            done = (self.downloaded + self.uploaded) / 2
            self._samples.append((now, done))
            while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_SECONDS:
                self._samples.popleft()
            first_time, first_done = self._samples[0]
            rate = (done - first_done) / (now - first_time) if now > first_time else 0.0
            percent = 100.0 * done / self.total if self.total else 100.0
            left = f"about {_duration((self.total - done) / rate)} left" if rate > 0 else "time left unknown yet"
            return (
                f"progress: {_gb(done)} of {_gb(self.total)} ({percent:.0f}%), {rate / 1e6:.1f} MB/s, {left} "
                f"(downloaded {_gb(self.downloaded)}, uploaded {_gb(self.uploaded)}, "
                f"{self.files_done} of {self.files_total} files done)"
            )


class _Reporter:
    """Prints a progress line every ``seconds`` until stopped (and one more at the end)."""

    def __init__(self, progress: Progress, out: Callable[[str], None], seconds: float) -> None:
        self._progress, self._out, self._seconds = progress, out, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stage-progress", daemon=True)

    def __enter__(self) -> _Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if exc[0] is None:
            self._out(self._progress.line())

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            self._out(self._progress.line())


def _download_bar(progress: Progress) -> type:
    """A tqdm class for huggingface_hub's downloads that counts bytes into ``progress`` and
    draws nothing (bars are unreadable in task logs). Subclassing huggingface_hub's own tqdm
    keeps every method its HTTP and Xet paths call; ``update_transfer`` (network bytes, which
    Xet reports beside the bytes written) is ignored so nothing counts twice."""
    from huggingface_hub.utils import tqdm as hub_tqdm

    class _CountingBar(hub_tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            progress.add_downloaded(int(n or 0))
            return super().update(n)  # type: ignore[no-any-return]

        def update_transfer(self, n: float | None = 1) -> None:
            pass

        def set_transfer_postfix_str(self, s: str = "", refresh: bool = True) -> None:
            pass

    return _CountingBar


# ----------------------------------------------------------------------------- disk budget


class _DiskBudget:
    """Bytes the working folder may hold at once: a file waits until its size fits."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()

    def reserve(self, n: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.used == 0 or self.used + n <= self.capacity)
            self.used += n
            self.peak = max(self.peak, self.used)

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


# ----------------------------------------------------------------------------- the Hub


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_HUB).rstrip("/")


def hub_token() -> str | None:
    """``HF_TOKEN`` from the environment, or None: never huggingface_hub's token file."""
    return os.environ.get("HF_TOKEN") or None


def _gated_problem(model_id: str, token: str | None) -> StageError:
    page = f"{hub_endpoint()}/{model_id}"
    if token is None:
        return StageError(
            f"{model_id} is gated and HF_TOKEN is not set: accept its terms at {page} and set HF_TOKEN to a "
            "read token of that account (in AWS, the stack's Hugging Face token secret)"
        )
    return StageError(
        f"{model_id} is gated and the account of HF_TOKEN has no access: accept its terms at {page} "
        "with that account, or use a token of an account that has"
    )


def _hub_problem(error: Exception, model_id: str, revision: str, token: str | None) -> StageError | None:
    """One line for an error of the Hub, or None when it is not one we can explain."""
    import httpx2
    from huggingface_hub import errors

    endpoint = hub_endpoint()
    page = f"{endpoint}/{model_id}"
    if isinstance(error, errors.RevisionNotFoundError):
        return StageError(
            f"revision {revision} is not a commit of {model_id} on the Hub: pin a commit listed at "
            f"{page}/commits/main (models.<name>.revision)"
        )
    if isinstance(error, errors.GatedRepoError):  # a RepositoryNotFoundError too: first
        return _gated_problem(model_id, token)
    if isinstance(error, errors.RepositoryNotFoundError):
        hint = "the account of HF_TOKEN cannot see it" if token else "HF_TOKEN is not set"
        return StageError(f"{model_id} is not a model on the Hub ({page}), or it is private and {hint}: check modelId")
    if isinstance(error, errors.RemoteEntryNotFoundError):
        return StageError(f"{model_id} at {revision} lists a file the Hub cannot serve: rerun later")
    if isinstance(error, errors.HfHubHTTPError) and error.response.status_code == 401:
        return StageError(
            f"the Hub refused HF_TOKEN (invalid or expired): create a read token at {endpoint}/settings/tokens"
        )
    if isinstance(error, (httpx2.TransportError, errors.LocalEntryNotFoundError)):
        return StageError(
            f"cannot reach the Hub at {endpoint} ({type(error).__name__}): check the network (the task needs "
            "internet access) or HF_ENDPOINT, then rerun: finished files are kept"
        )
    if isinstance(error, errors.HfHubHTTPError):
        status = error.response.status_code
        return StageError(
            f"the Hub answered HTTP {status} for {model_id} at {revision}; rerun later: finished files are kept"
        )
    return None


def list_hub_files(model_id: str, revision: str, token: str | None) -> list[HubFile]:
    """Every file of ``model_id`` at ``revision``, with its size and the Hub's checksum."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint(), token=token if token else False)
    try:
        info = api.model_info(model_id, revision=revision, files_metadata=True)
    except Exception as e:
        raise (_hub_problem(e, model_id, revision, token) or e) from None
    if info.sha is not None and info.sha != revision:
        raise StageError(f"the Hub resolved {revision} to {info.sha}: pin the full commit {info.sha}", exit_code=2)
    if info.gated and token is None:  # fail before any download, not at the first weight file
        raise _gated_problem(model_id, token)
    files = []
    for sibling in info.siblings or []:
        if sibling.size is None:
            raise StageError(f"the Hub gave no size for {sibling.rfilename} of {model_id}: rerun later")
        if sibling.lfs is not None:
            checksum = f"sha256:{sibling.lfs.sha256}"
        elif sibling.blob_id:
            checksum = f"git-sha1:{sibling.blob_id}"
        else:
            raise StageError(f"the Hub gave no checksum for {sibling.rfilename} of {model_id}: rerun later")
        files.append(HubFile(sibling.rfilename, sibling.size, checksum))
    if not files:
        raise StageError(f"{model_id} at {revision} has no files on the Hub: check modelId and revision")
    # Largest first, so the last files to finish are small ones.
    return sorted(files, key=lambda f: (-f.size, f.path))


@dataclass(frozen=True)
class Selection:
    """The files of a repository split into what TGI and vLLM load and what they do not."""

    staged: list[HubFile]
    meta_checkpoint: list[HubFile]
    """Under ``original/``."""
    other_formats: list[HubFile]
    """Weights in other formats than safetensors, beside safetensors weights."""

    @property
    def skipped(self) -> list[HubFile]:
        return sorted(self.meta_checkpoint + self.other_formats, key=lambda f: f.path)


def select_files_to_stage(files: list[HubFile]) -> Selection:
    """Leave out what neither engine reads from a model folder: everything under ``original/``,
    and, when the top level (where both engines look for weights) has ``*.safetensors``, the
    files in ``OTHER_WEIGHT_SUFFIXES``, wherever they are. Config, tokenizer, generation and every
    other file is kept (docs/reference.md#hugging-face-hub)."""
    meta = [f for f in files if f.path.startswith(META_CHECKPOINT_FOLDER)]
    rest = [f for f in files if not f.path.startswith(META_CHECKPOINT_FOLDER)]
    has_safetensors = any("/" not in f.path and f.path.endswith(".safetensors") for f in rest)
    other = [f for f in rest if f.path.endswith(OTHER_WEIGHT_SUFFIXES)] if has_safetensors else []
    staged = [f for f in rest if f not in other]
    return Selection(staged, meta, other)


def _skipped_line(selection: Selection) -> str | None:
    """One line: how much was left out, and why (None when nothing was)."""
    skipped = selection.skipped
    if not skipped:
        return None
    reasons = []
    if selection.meta_checkpoint:
        reasons.append(
            f"{len(selection.meta_checkpoint)} under {META_CHECKPOINT_FOLDER} (Meta's own checkpoint, "
            f"{_gb(sum(f.size for f in selection.meta_checkpoint))})"
        )
    if selection.other_formats:
        reasons.append(
            f"{len(selection.other_formats)} in other weight formats than the safetensors ones "
            f"({_gb(sum(f.size for f in selection.other_formats))})"
        )
    return (
        f"skipping {len(skipped)} files ({_gb(sum(f.size for f in skipped))}) that TGI and vLLM do not load: "
        f'{", ".join(reasons)}; the marker lists them under "skipped"'
    )


def file_checksum(path: Path, checksum: str) -> str:
    """The checksum of a local file, of the kind of ``checksum`` (sha256 or git blob id)."""
    kind = checksum.split(":", 1)[0]
    if kind == "sha256":
        digest = hashlib.sha256()
    else:  # git's blob id: sha1 of "blob <size>\0" and the content
        digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            digest.update(chunk)
    return f"{kind}:{digest.hexdigest()}"


# ----------------------------------------------------------------------------- S3


def s3_client() -> Any:
    """boto3's S3 client with standard retries; ``AWS_ENDPOINT_URL`` is honoured by boto3."""
    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 10}))


def _s3_problem(error: Exception, bucket: str) -> StageError:
    if isinstance(error, NoCredentialsError):
        return StageError("no AWS credentials: configure them (aws configure, AWS_PROFILE, or a role)")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "?")
        message = error.response.get("Error", {}).get("Message", "")
        if code == "NoSuchBucket":
            return StageError(f"bucket {bucket} does not exist: use the stack's weightsBucket output")
        if code in ("AccessDenied", "403", "Forbidden"):
            return StageError(f"S3 denied access to s3://{bucket}: the role needs the weights bucket's write policy")
        return StageError(f"S3 refused a request on s3://{bucket}: {code} {message}".rstrip())
    return StageError(f"S3 failed on s3://{bucket}: {error}")


def list_objects(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Key -> size of every object under ``prefix``."""
    sizes: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            sizes[item["Key"]] = int(item["Size"])
    return sizes


def read_marker(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    try:
        marker = json.loads(body)
    except json.JSONDecodeError:
        return {}
    return marker if isinstance(marker, dict) else {}


def marker_document(
    model_id: str, revision: str, prefix: str, files: list[HubFile], skipped: list[HubFile] | None = None
) -> dict[str, Any]:
    """The marker's content: what a reader needs to trust and check the copy, and what of the
    repository was left out (``skipped``: paths in the repository, not keys: they are not in S3)."""
    return {
        "model_id": model_id,
        "revision": revision,
        "completed_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "total_bytes": sum(f.size for f in files),
        "files": [{"key": prefix + f.path, "size": f.size, "checksum": f.checksum} for f in files],
        "skipped": [{"path": f.path, "size": f.size} for f in skipped or []],
    }


def _marker_mismatch(
    s3: Any,
    bucket: str,
    prefix: str,
    marker: Mapping[str, Any],
    model_id: str,
    revision: str,
    objects: Mapping[str, int],
) -> str | None:
    """Why a marker does not vouch for this prefix (None: it does). Each file it lists must be
    in S3 with its size and, in the object's metadata, its checksum: a HEAD per file."""
    if marker.get("model_id") != model_id or marker.get("revision") != revision:
        return f"it marks {marker.get('model_id')} at {marker.get('revision')}, not {model_id} at {revision}"
    files = marker.get("files")
    if not isinstance(files, list) or not files:
        return "it lists no files"
    differing = [
        f.get("key") if isinstance(f, dict) else f
        for f in files
        if (listed := _marker_entry(prefix, f)) is None
        or not _object_matches(s3, bucket, prefix + listed.path, listed, objects)
    ]
    if differing:
        return (
            f"{len(differing)} of the {len(files)} files it lists are missing or differ in size or checksum "
            f"({differing[0]}, ...)"
        )
    return None


def _marker_entry(prefix: str, entry: object) -> HubFile | None:
    """A file as the marker lists it (None: not a well-formed entry for this prefix)."""
    if not isinstance(entry, dict):
        return None
    key, size, checksum = entry.get("key"), entry.get("size"), entry.get("checksum")
    if not isinstance(key, str) or not key.startswith(prefix) or not isinstance(size, int):
        return None
    if not isinstance(checksum, str):
        return None
    return HubFile(key[len(prefix) :], size, checksum)


def _object_matches(s3: Any, bucket: str, key: str, f: HubFile, objects: Mapping[str, int]) -> bool:
    if objects.get(key) != f.size:
        return False
    head = s3.head_object(Bucket=bucket, Key=key)
    return bool(head.get("Metadata", {}).get(CHECKSUM_METADATA) == f.checksum)


def transfer_config(size: int) -> TransferConfig:
    chunk = max(MULTIPART_CHUNK_BYTES, math.ceil(size / MAX_PARTS / (1024 * 1024)) * 1024 * 1024)
    return TransferConfig(
        multipart_threshold=MULTIPART_CHUNK_BYTES,
        multipart_chunksize=chunk,
        max_concurrency=UPLOAD_CONCURRENCY,
        use_threads=True,
    )


# ----------------------------------------------------------------------------- staging


def default_work_dir() -> Path:
    """Stable across runs on one machine, so a rerun finds what a killed run downloaded."""
    return Path(tempfile.gettempdir()) / "llm-serving-weights"


@dataclass
class Stager:
    bucket: str
    model_id: str
    revision: str
    prefix: str | None = None
    work_dir: Path | None = None
    parallel_files: int = DEFAULT_PARALLEL_FILES
    disk_budget_bytes: int | None = None
    """Bytes the working folder may hold at once (default: its free space less 1 GiB)."""
    progress_seconds: float = PROGRESS_SECONDS
    out: Callable[[str], None] = print
    s3: Any = None

    def run(self) -> StageResult:
        # huggingface_hub's telemetry also fetches a registry from the Hub and caches it in
        # HF_HOME: nothing the copy needs. Read when huggingface_hub is first imported (below).
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        check_revision(self.revision)
        if self.parallel_files < 1:
            raise StageError("--parallel-files must be at least 1", exit_code=2)
        prefix = normalize_prefix(self.prefix, self.model_id, self.revision)
        s3 = self.s3 if self.s3 is not None else s3_client()
        where = f"s3://{self.bucket}/{prefix}"
        try:
            done = self._already_complete(s3, prefix)
            if done is not None:
                self.out(
                    f"already complete: {where} holds {self.model_id} at {self.revision} ({len(done.files)} files, "
                    f"{_gb(done.total_bytes)}; marker {layout.MARKER}): nothing to transfer"
                )
                return done
            token = hub_token()
            selection = select_files_to_stage(list_hub_files(self.model_id, self.revision, token))
            if not selection.staged:
                raise StageError(
                    f"{self.model_id} at {self.revision} has no file TGI or vLLM loads: all its files are under "
                    f"{META_CHECKPOINT_FOLDER} (Meta's own checkpoint): check modelId"
                )
            return self._copy_all(s3, prefix, selection, token)
        except (ClientError, BotoCoreError) as e:
            raise _s3_problem(e, self.bucket) from None

    def _already_complete(self, s3: Any, prefix: str) -> StageResult | None:
        marker = read_marker(s3, self.bucket, prefix + layout.MARKER)
        if marker is None:
            return None
        objects = list_objects(s3, self.bucket, prefix)
        problem = _marker_mismatch(s3, self.bucket, prefix, marker, self.model_id, self.revision, objects)
        if problem is not None:
            raise StageError(
                f"s3://{self.bucket}/{prefix}{layout.MARKER} exists but {problem}: the prefix cannot be trusted; "
                f"delete that marker (aws s3 rm) and rerun to repair it"
            )
        files = [f for f in (_marker_entry(prefix, entry) for entry in marker["files"]) if f is not None]
        return StageResult(self.bucket, prefix, files, already_complete=True)

    def _copy_all(self, s3: Any, prefix: str, selection: Selection, token: str | None) -> StageResult:
        files = selection.staged
        result = StageResult(self.bucket, prefix, files, skipped=selection.skipped)
        objects = list_objects(s3, self.bucket, prefix)
        todo = [f for f in files if not _object_matches(s3, self.bucket, prefix + f.path, f, objects)]
        there = len(files) - len(todo)
        todo_bytes = sum(f.size for f in todo)
        self.out(
            f"staging {self.model_id} at {self.revision} into s3://{self.bucket}/{prefix}: {len(files)} files, "
            f"{_gb(result.total_bytes)}; {there} already there, {len(todo)} to copy ({_gb(todo_bytes)})"
        )
        skipped_line = _skipped_line(selection)
        if skipped_line is not None:
            self.out(skipped_line)
        local = self._local_dir()
        budget = _DiskBudget(self._budget(local, todo))
        progress = Progress(todo_bytes)
        progress.files_total = len(todo)
        bar = _download_bar(progress)
        lock = threading.Lock()

        def copy(f: HubFile) -> None:
            budget.reserve(f.size)
            try:
                self._copy_one(s3, prefix, f, local, token, bar, progress)
            finally:
                budget.release(f.size)
            progress.file_done()
            with lock:
                result.uploaded.append(f.path)
                result.uploaded_bytes += f.size
            self.out(f"copied {f.path} ({_gb(f.size)})")

        with _Reporter(progress, self.out, self.progress_seconds), ThreadPoolExecutor(self.parallel_files) as pool:
            futures = [pool.submit(copy, f) for f in todo]
            _raise_first(futures)
        result.peak_disk_bytes = budget.peak
        # Every file is confirmed in S3 (checked after each upload): now, and only now, mark it.
        marker = marker_document(self.model_id, self.revision, prefix, files, result.skipped)
        s3.put_object(
            Bucket=self.bucket,
            Key=prefix + layout.MARKER,
            Body=json.dumps(marker, indent=1).encode(),
            ContentType="application/json",
        )
        shutil.rmtree(local, ignore_errors=True)
        self.out(
            f"complete: s3://{self.bucket}/{prefix} holds {self.model_id} at {self.revision} ({len(files)} files, "
            f"{_gb(result.total_bytes)}; {len(todo)} copied now); marker {layout.MARKER} written"
        )
        return result

    def _copy_one(
        self,
        s3: Any,
        prefix: str,
        f: HubFile,
        local: Path,
        token: str | None,
        bar: type,
        progress: Progress,
    ) -> None:
        from huggingface_hub import hf_hub_download

        try:
            path = Path(
                hf_hub_download(
                    self.model_id,
                    f.path,
                    revision=self.revision,
                    local_dir=local,
                    cache_dir=local / ".cache" / "hub",
                    token=token if token else False,
                    endpoint=hub_endpoint(),
                    tqdm_class=bar,
                )
            )
        except Exception as e:
            raise (_hub_problem(e, self.model_id, self.revision, token) or e) from None
        try:
            actual = file_checksum(path, f.checksum)
            if actual != f.checksum or path.stat().st_size != f.size:
                raise StageError(
                    f"{f.path} downloaded with checksum {actual} and {path.stat().st_size} bytes, the Hub lists "
                    f"{f.checksum} and {f.size}: rerun (the download was corrupted)"
                )
            key = prefix + f.path
            s3.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"Metadata": {CHECKSUM_METADATA: f.checksum}},
                Config=transfer_config(f.size),
                Callback=progress.add_uploaded,
            )
            head = s3.head_object(Bucket=self.bucket, Key=key)
            if head["ContentLength"] != f.size or head.get("Metadata", {}).get(CHECKSUM_METADATA) != f.checksum:
                raise StageError(f"s3://{self.bucket}/{key} does not match {f.path} after its upload: rerun")
        finally:
            path.unlink(missing_ok=True)

    def _local_dir(self) -> Path:
        base = self.work_dir if self.work_dir is not None else default_work_dir()
        local = base / ("models--" + self.model_id.replace("/", "--")) / self.revision
        local.mkdir(parents=True, exist_ok=True)
        # huggingface_hub names a partial download after its process and deletes it when the
        # download fails; a killed process leaves it behind, never to be reused: remove them.
        for stale in _incomplete_files(local):
            stale.unlink(missing_ok=True)
        return local

    def _budget(self, local: Path, todo: list[HubFile]) -> int:
        if self.disk_budget_bytes is not None:
            budget = self.disk_budget_bytes
        else:
            budget = shutil.disk_usage(local).free - DISK_RESERVE_BYTES
        largest = max((f.size for f in todo), default=0)
        if largest > budget:
            raise StageError(
                f"the largest file ({_gb(largest)}) does not fit the {_gb(max(budget, 0))} of disk available in "
                f"{local}: free space there, or point --work-dir at a larger disk"
            )
        return budget


def _incomplete_files(local: Path) -> Iterator[Path]:
    downloads = local / ".cache" / "huggingface" / "download"
    if downloads.is_dir():
        yield from downloads.rglob("*.incomplete")


def _raise_first(futures: list[Future[None]]) -> None:
    """Wait for every copy; on the first failure, cancel what has not started and raise it
    (copies already running finish: their files are then in S3 for the rerun)."""
    wait(futures, return_when=FIRST_EXCEPTION)
    for future in futures:
        if future.done() and not future.cancelled() and future.exception() is not None:
            for other in futures:
                other.cancel()
            wait(futures)
            raise future.exception()  # type: ignore[misc]


def stage(bucket: str, model_id: str, revision: str, prefix: str | None = None, **options: Any) -> StageResult:
    """Copy ``model_id`` at ``revision`` into ``s3://bucket/prefix`` (see the module's doc)."""
    return Stager(bucket=bucket, model_id=model_id, revision=revision, prefix=prefix, **options).run()
