"""Image size and build time per variant, from the container tests' own builds.

Runs tests/test_container.py (each variant: bake, install, `make artifacts`,
`docker build` on the local Debian base, run and query as non-root) and prints
what each build recorded. The local base is debootstrap's minbase bookworm with
python3 (about 240 MB), which stands in for python:3.11-slim-bookworm (about
150 MB): sizes here are that much larger than with the official image.

    uv run python benchmarks/images.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from docker_engine import BASE_IMAGE, docker  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "images.jsonl"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/test_container.py",
                "-n",
                "3",
                "-q",
                "-p",
                "no:cacheprovider",
            ],
            cwd=REPO,
            env={**os.environ, "IMAGE_REPORT": str(report)},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            sys.exit(f"the container tests failed:\n{result.stdout[-4000:]}")
        rows = [json.loads(line) for line in report.read_text().splitlines()]
    base = subprocess.run(
        [docker(), "image", "inspect", "-f", "{{.Size}}", BASE_IMAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    base_mb = int(base.stdout) / 1e6 if base.returncode == 0 else None
    print(f"# Images ({os.cpu_count()} CPUs, local bookworm base)\n")
    print("| variant | image MB | over the base MB | build s |")
    print("|---|---|---|---|")
    for row in sorted(rows, key=lambda row: row["variant"]):
        over = f"{row['size_mb'] - base_mb:,.0f}" if base_mb else "?"
        print(f"| {row['variant']} | {row['size_mb']:,} | {over} | {row['build_s']} |")


if __name__ == "__main__":
    main()
