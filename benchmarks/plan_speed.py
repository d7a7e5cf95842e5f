"""How long the offline plan takes, in a fresh process, for generated stacks of 1, 10 and 50
models (plus the committed dev and prod stacks).

Run: .venv/bin/python benchmarks/plan_speed.py [--repeat 3]
Results: benchmarks/plan_speed.md (last run's table, pasted by hand with the machine).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def generated_stack(models: int) -> dict[str, object]:
    dev = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    template = dev["config"]["llm-serving:models"]["chat"]
    dev["config"]["llm-serving:models"] = {f"model-{i}": dict(template) for i in range(models)}
    return dev


def time_plan(project_dir: Path, stack: str, repeat: int) -> tuple[float, int]:
    wall = []
    resources = 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "infra.cli", "plan", stack, "--json", "--project-dir", str(project_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        wall.append(time.perf_counter() - start)
        resources = out.stdout.count('"urn":')
    return statistics.median(wall), resources


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for stack in ("dev", "prod"):
        rows.append((stack, *time_plan(ROOT, stack, args.repeat)))
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
        for models in (1, 10, 50):
            (project / f"Pulumi.gen{models}.yaml").write_text(yaml.safe_dump(generated_stack(models)))
            rows.append((f"{models} models", *time_plan(project, f"gen{models}", args.repeat)))
    print(f"| stack | resources | wall (median of {args.repeat}), s | ms per resource |")
    print("|---|---:|---:|---:|")
    for name, wall, resources in rows:
        print(f"| {name} | {resources} | {wall:.2f} | {1000 * wall / max(resources, 1):.1f} |")


if __name__ == "__main__":
    main()
