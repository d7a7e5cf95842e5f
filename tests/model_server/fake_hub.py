"""A Hugging Face Hub on loopback, answering the calls huggingface_hub 2.x makes to list a
repository at a commit and download its files (read in its source, ``hf_api.model_info``
and ``file_download``):

- ``GET /api/models/{repo}/revision/{commit}?blobs=True``: the repository's files with size,
  git blob id and, for LFS files, the sha256 (``siblings``); ``gated`` as the Hub says it.
- ``HEAD /{repo}/resolve/{commit}/{path}``: for a plain git file, 200 with ``ETag`` (the
  blob id), ``Content-Length`` and ``X-Repo-Commit``; for an LFS file, a 302 to the CDN (a
  second server: another origin, so huggingface_hub stops there and drops the token) with
  ``X-Linked-Etag`` (the sha256), ``X-Linked-Size`` and ``X-Repo-Commit``.
- ``GET`` of either address: the bytes, honouring ``Range`` (huggingface_hub resumes with it).
- Errors as the Hub signals them, in ``X-Error-Code``: ``RepoNotFound`` (401),
  ``RevisionNotFound`` (404), ``GatedRepo`` (401 without a token, 403 with a wrong one).

No Xet headers are ever sent, so huggingface_hub downloads over plain HTTP (tests also set
``HF_HUB_DISABLE_XET=1`` for the subprocesses). Tests can hold a file's download until they
release it, and serve corrupted bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import unquote

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

LOOPBACK = "127.0.0.1"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class FakeRepo:
    model_id: str
    commit: str
    files: dict[str, bytes]
    lfs: frozenset[str] = frozenset()
    """Paths stored with Git LFS (served from the CDN, checked by sha256)."""
    gated: bool = False
    token: str | None = None
    """The token that may read a gated repository."""

    def is_lfs(self, path: str) -> bool:
        return path in self.lfs

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.files[path]).hexdigest()

    def info(self) -> dict[str, object]:
        siblings = []
        for path, data in sorted(self.files.items()):
            sibling: dict[str, object] = {"rfilename": path, "size": len(data), "blobId": git_blob_id(data)}
            if self.is_lfs(path):
                sibling["lfs"] = {"sha256": self.sha256(path), "size": len(data), "pointerSize": 134}
                sibling["blobId"] = hashlib.sha1(path.encode(), usedforsecurity=False).hexdigest()  # the pointer's
            siblings.append(sibling)
        return {
            "id": self.model_id,
            "modelId": self.model_id,
            "sha": self.commit,
            "private": False,
            "gated": "manual" if self.gated else False,
            "siblings": siblings,
        }


@dataclass
class HubCall:
    server: str
    """``hub`` or ``cdn``."""
    method: str
    path: str
    authorization: str | None


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    calls: list[HubCall] = field(default_factory=list)
    corrupt: set[str] = field(default_factory=set)
    """Paths served with one byte flipped."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, threading.Event] = {}
        self.arrived: dict[str, threading.Event] = {}
        self.hub = HTTPServer(host=LOOPBACK, threaded=True)
        self.cdn = HTTPServer(host=LOOPBACK, threaded=True)
        self.hub.expect_request(re.compile(".*")).respond_with_handler(self._hub)
        self.cdn.expect_request(re.compile(".*")).respond_with_handler(self._cdn)
        self.hub.start()
        self.cdn.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.hub.port}"

    def add(self, repo: FakeRepo) -> FakeRepo:
        self.repos[repo.model_id] = repo
        return repo

    def hold(self, path: str) -> None:
        """Make downloads of ``path`` wait until ``release(path)``."""
        self._holds[path] = threading.Event()
        self.arrived[path] = threading.Event()

    def release(self, path: str) -> None:
        self._holds.pop(path).set()

    def downloads(self) -> list[str]:
        """Paths whose bytes were requested (GET on the Hub or the CDN)."""
        with self._lock:
            return [c.path for c in self.calls if c.method == "GET" and not c.path.startswith("/api/")]

    def reset(self) -> None:
        """Forget repositories, calls and scripted faults (one hub serves a whole module)."""
        for event in self._holds.values():
            event.set()
        with self._lock:
            self.repos.clear()
            self.calls.clear()
            self.corrupt.clear()
            self._holds.clear()
            self.arrived.clear()

    def close(self) -> None:
        for event in self._holds.values():
            event.set()
        for server in (self.hub, self.cdn):
            server.clear()
            server.stop()

    # ------------------------------------------------------------------ handlers

    def _record(self, server: str, request: Request) -> None:
        with self._lock:
            self.calls.append(HubCall(server, request.method, request.path, request.headers.get("Authorization")))

    def _hub(self, request: Request) -> Response:
        self._record("hub", request)
        api = re.fullmatch(r"/api/models/(.+)/revision/([^/]+)", request.path)
        if api:
            repo, problem = self._find(unquote(api.group(1)), unquote(api.group(2)))
            if problem is not None:
                return problem
            assert repo is not None
            return Response(json.dumps(repo.info()), content_type="application/json")
        resolve = re.fullmatch(r"/(.+?/.+?)/resolve/([^/]+)/(.+)", request.path)
        if not resolve:
            return _error(404, "EntryNotFound", "not a Hub address")
        repo, problem = self._find(unquote(resolve.group(1)), unquote(resolve.group(2)))
        if problem is not None:
            return problem
        assert repo is not None
        path = unquote(resolve.group(3))
        if path not in repo.files:
            return _error(404, "EntryNotFound", "Entry not found", commit=repo.commit)
        denied = self._gate(repo, request)
        if denied is not None:
            return denied
        data = repo.files[path]
        if repo.is_lfs(path):
            location = f"http://{LOOPBACK}:{self.cdn.port}/blobs/{repo.sha256(path)}?path={path}"
            return Response(
                status=302,
                headers={
                    "Location": location,
                    "X-Repo-Commit": repo.commit,
                    "X-Linked-Etag": f'"{repo.sha256(path)}"',
                    "X-Linked-Size": str(len(data)),
                    "ETag": f'"{git_blob_id(data)}"',
                },
            )
        headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{git_blob_id(data)}"'}
        return self._bytes(request, path, data, headers)

    def _cdn(self, request: Request) -> Response:
        self._record("cdn", request)
        match = re.fullmatch(r"/blobs/([0-9a-f]{64})", request.path)
        path = request.args.get("path", "")
        for repo in self.repos.values():
            if match and path in repo.files and repo.is_lfs(path) and repo.sha256(path) == match.group(1):
                return self._bytes(request, path, repo.files[path], {})
        return Response("no such blob", status=404)

    def _bytes(self, request: Request, path: str, data: bytes, headers: dict[str, str]) -> Response:
        if request.method == "GET":
            if path in self.arrived:
                self.arrived[path].set()
            hold = self._holds.get(path)
            if hold is not None:
                hold.wait(60)
        if path in self.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        response = Response(data, content_type="application/octet-stream", headers=headers)
        response.headers["Accept-Ranges"] = "bytes"
        return response.make_conditional(request, accept_ranges=True, complete_length=len(data))

    def _find(self, model_id: str, revision: str) -> tuple[FakeRepo | None, Response | None]:
        repo = self.repos.get(model_id)
        if repo is None:
            return None, _error(401, "RepoNotFound", "Repository not found")
        if revision != repo.commit:
            return None, _error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        return repo, None

    def _gate(self, repo: FakeRepo, request: Request) -> Response | None:
        if not repo.gated:
            return None
        authorization = request.headers.get("Authorization")
        if authorization == f"Bearer {repo.token}":
            return None
        status = 401 if authorization is None else 403
        return _error(status, "GatedRepo", "Access to model is restricted. You must be authenticated to access it.")


def _error(status: int, code: str, message: str, commit: str | None = None) -> Response:
    headers = {"X-Error-Code": code, "X-Error-Message": message}
    if commit is not None:
        headers["X-Repo-Commit"] = commit
    return Response(json.dumps({"error": message}), status=status, content_type="application/json", headers=headers)
