"""Time to green: generate + `make install` + `make check`, cold and warm uv cache.

For each variant, in one run: a cold start (an empty uv cache, so every package
is downloaded and unpacked) and then a warm one (a new project, the cache that
the cold run filled). What a user waits for from nothing to a passing gate.

Torch variants install the CPU wheel that lies on this machine where there is
one (as the template's tests do), so "cold" there means cold for everything but
the torch download.

    uv run python benchmarks/time_to_green.py [--variants serving,rag,fine-tuning]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from baking import bake  # noqa: E402

from support import project_env, use_local_torch  # noqa: E402


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr
        sys.exit(f"{' '.join(args)} failed in {cwd}:\n{output}")
    return time.perf_counter() - started


def to_green(variant: str, scratch: Path, cache: Path) -> tuple[float, float, float]:
    """Seconds to generate, to install and to pass `make check`."""
    started = time.perf_counter()
    project = bake(variant, scratch)
    generated = time.perf_counter() - started
    env = project_env(UV_CACHE_DIR=str(cache), **use_local_torch(project))
    installed = timed(["make", "install"], project, env)
    checked = timed(["make", "check"], project, {**env, "UV_OFFLINE": "1"})
    return generated, installed, checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="serving,rag,fine-tuning")
    args = parser.parse_args()
    print(f"# Time to green ({platform.machine()}, {os.cpu_count()} CPUs)\n")
    print("| variant | uv cache | generate s | install s | make check s | total s |")
    print("|---|---|---|---|---|---|")
    for variant in args.variants.split(","):
        with tempfile.TemporaryDirectory() as scratch:
            cache = Path(scratch) / "uv-cache"
            totals = {}
            for temperature in ("cold", "warm"):
                out = Path(scratch) / temperature
                generated, installed, checked = to_green(variant, out, cache)
                totals[temperature] = generated + installed + checked
                print(
                    f"| {variant} | {temperature} | {generated:.1f} | {installed:.1f} "
                    f"| {checked:.1f} | {totals[temperature]:.1f} |",
                    flush=True,
                )
            ratio = totals["cold"] / totals["warm"]
            print(f"| {variant} | cold / warm | | | | {ratio:.2f} |", flush=True)


if __name__ == "__main__":
    main()
