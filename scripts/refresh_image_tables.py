"""Copy AWS's image tables (infra/image_tables/) from a sagemaker-core release.

Run with any Python that has pip: python3 scripts/refresh_image_tables.py 2.27.0
Downloads the sagemaker-core wheel with pip (no dependencies installed) and copies the two
tables out of it, unchanged. See infra/image_tables/README.md.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TABLES = ("huggingface-llm.json", "vllm.json")
TARGET = Path(__file__).resolve().parent.parent / "infra" / "image_tables"


def main(version: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp,
             f"sagemaker-core=={version}"],
            check=True,
        )  # fmt: skip
        [wheel] = Path(tmp).glob("sagemaker_core-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for name in TABLES:
                data = archive.read(f"sagemaker/core/image_uri_config/{name}")
                (TARGET / name).write_bytes(data)
                print(f"{name}: sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main(sys.argv[1])
