"""``python -m model_server.weights stage ...``: copy a model's pinned revision from the
Hugging Face Hub into the weights bucket (``model_server.weights.stage``).

The same command runs on a laptop, a CI runner and in the staging task in AWS. Exit codes:
0 done (or already complete), 1 failed (one line on stderr says why and what to do), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model_server.weights.stage import DEFAULT_PARALLEL_FILES, PROGRESS_SECONDS, StageError, stage


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_server.weights", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("stage", help="copy one model revision from the Hub into S3")
    run.add_argument("--bucket", required=True, help="the weights bucket (the stack's weightsBucket output)")
    run.add_argument("--model-id", required=True, help="Hugging Face repository id, e.g. Qwen/Qwen2.5-7B-Instruct")
    run.add_argument("--revision", required=True, help="the pinned 40-character commit")
    run.add_argument("--prefix", help="key prefix to copy into (default: <modelId>/<revision>/)")
    run.add_argument("--work-dir", type=Path, help="local working folder (default: <tmp>/llm-serving-weights)")
    run.add_argument(
        "--parallel-files",
        type=int,
        default=DEFAULT_PARALLEL_FILES,
        help="files in flight at once (default: %(default)s)",
    )
    run.add_argument(
        "--disk-budget-gb", type=float, help="disk the working folder may use at once (default: its free space)"
    )
    run.add_argument(
        "--progress-seconds",
        type=float,
        default=PROGRESS_SECONDS,
        help="seconds between progress lines (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import logging

    # One line per failure: huggingface_hub's own warnings would add more.
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    try:
        stage(
            args.bucket,
            args.model_id,
            args.revision,
            args.prefix,
            work_dir=args.work_dir,
            parallel_files=args.parallel_files,
            disk_budget_bytes=int(args.disk_budget_gb * 1e9) if args.disk_budget_gb is not None else None,
            progress_seconds=args.progress_seconds,
            out=lambda line: print(line, flush=True),
        )
    except StageError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted: rerun to resume (files already in S3 are kept)", file=sys.stderr, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
