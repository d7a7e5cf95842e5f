"""Entry point: ``python -m model_server.worker``."""

from __future__ import annotations

import asyncio
import os
import sys

from pydantic import ValidationError

from model_server.queue_url import session_for
from model_server.worker import logs
from model_server.worker.service import Worker
from model_server.worker.settings import WorkerSettings

BAD_CONFIG_EXIT_CODE = 2


def _env_errors(exc: ValidationError) -> str:
    """Settings errors named by the environment variable to fix."""
    lines = []
    for error in exc.errors():
        field = "_".join(str(part) for part in error["loc"]).upper()
        name = f"WORKER_{field}" if field else "settings"
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


def main() -> int:
    try:
        settings = WorkerSettings()  # type: ignore[call-arg]  # required fields come from env
        session = session_for(settings.queue_url)
    except ValidationError as exc:
        print(f"model_server.worker: bad configuration:\n{_env_errors(exc)}", file=sys.stderr)
        return BAD_CONFIG_EXIT_CODE
    except ValueError as exc:
        print(f"model_server.worker: bad configuration: {exc}", file=sys.stderr)
        return BAD_CONFIG_EXIT_CODE
    logs.configure(settings.log_level, model=settings.model)
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(Worker(settings, session).run())
    finally:
        loop.close()


if __name__ == "__main__":
    code = main()
    logs.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # A receive abandoned at a drain deadline may still block a pool thread; the
    # interpreter would wait for it at exit. Nothing is left to clean up: leave now.
    os._exit(code)
