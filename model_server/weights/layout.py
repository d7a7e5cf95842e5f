"""Where a model's weights live in the stack's weights bucket.

``<modelId>/<revision>/`` holds the repository's files as the Hub has them at that commit
(``meta-llama/Llama-3.1-8B-Instruct/0e9e39f2.../config.json``). A new revision is a new
prefix, so the fleet serving the old one keeps working until its rollout completes.

``MARKER`` is written last, after every file is in place: its presence is the only sign
that a prefix is complete. Readers refuse a prefix without it.
"""

from __future__ import annotations

import re

HUB_URL = "https://huggingface.co"
"""The Hugging Face Hub, where every revision comes from (``HF_ENDPOINT`` may point the
stager elsewhere)."""
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
"""A pinned revision is a full commit hash: a branch or tag can move under a staged prefix."""

DEFAULT_PARALLEL_FILES = 4
"""Files the stager has in flight at once: enough to keep the network busy while one is being
hashed or uploaded, few enough that 4 shards of 5 GB fit any task's disk. Here, not in the
stager, so the staging task's component can read it without importing boto3."""

MARKER = "llm-serving-complete.json"
"""Written last by the stager: the list of files with their sizes and checksums."""


def prefix(model_id: str, revision: str) -> str:
    """The key prefix of ``model_id`` at ``revision``, ending in ``/``."""
    if not model_id or model_id.startswith("/") or ".." in model_id.split("/"):
        raise ValueError(f"not a Hugging Face repository id: {model_id!r}")
    if not revision or "/" in revision:
        raise ValueError(f"not a commit: {revision!r}")
    return f"{model_id}/{revision}/"


def marker_key(model_id: str, revision: str) -> str:
    return prefix(model_id, revision) + MARKER


def s3_uri(bucket: str, model_id: str, revision: str) -> str:
    return f"s3://{bucket}/{prefix(model_id, revision)}"
