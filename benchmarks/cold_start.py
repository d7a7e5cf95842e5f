"""Estimated time from scale-out to a healthy target, per model and instance type of the
committed stacks: boot + image pull + weights + load + warm-up, with weights from the
Hugging Face Hub and the engine image from a public registry (before), and with weights
staged in S3 and AWS's image in ECR (after).

Run: .venv/bin/python benchmarks/cold_start.py
Results: benchmarks/cold_start.md. The figures are estimates from the constants in
components/ec2/gpu_fleet.py (their sources: docs/reference.md#gpus-and-prices), not
measurements: nothing here can launch a GPU instance.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from components.ec2 import gpu_fleet as fleet
from infra import catalog
from infra.config import parse_stack_config
from infra.plan import read_stack_config
from model_server.engines import ENGINES

ROOT = Path(__file__).resolve().parent.parent


def parts(weights_gb: float, image_gib: int, *, after: bool) -> dict[str, float]:
    scale = max(1.0, image_gib / 30)
    pull = (fleet.ECR_IMAGE_PULL_SECONDS if after else fleet.IMAGE_PULL_SECONDS) * scale
    download = (fleet.S3_SECONDS_PER_GB if after else fleet.DOWNLOAD_SECONDS_PER_GB) * weights_gb
    return {
        "boot": fleet.BOOT_SECONDS,
        "image": pull,
        "weights": download,
        "load": fleet.LOAD_SECONDS_PER_GB * weights_gb,
        "warm-up": fleet.WARMUP_SECONDS,
    }


def main() -> None:
    print("| stack | model | instance type | weights GB | before: boot + image + weights + load + warm-up = s |"
          " after, same parts = s | saved |")  # fmt: skip
    print("|---|---|---|---:|---|---|---:|")
    for stack in ("dev", "prod"):
        values, _ = read_stack_config(stack)
        raw = {k.split(":", 1)[1]: yaml.safe_load(v) for k, v in values.items() if k.startswith("llm-serving:")}
        config = parse_stack_config(raw)
        for name, model in config.models.items():
            weights = catalog.weights_gb(model.shape.parameters_billions, model.quantization.bytes_per_parameter)
            image = ENGINES[model.engine].image_size_gib
            before, after = parts(weights, image, after=False), parts(weights, image, after=True)
            b = " + ".join(f"{v:.0f}" for v in before.values()) + f" = {sum(before.values()):.0f}"
            a = " + ".join(f"{v:.0f}" for v in after.values()) + f" = {sum(after.values()):.0f}"
            saved = sum(before.values()) - sum(after.values())
            for t in model.instance_types:
                print(f"| {stack} | {name} | {t} | {weights:g} | {b} | {a} | {saved:.0f} s |")


if __name__ == "__main__":
    main()
