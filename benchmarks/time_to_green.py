"""Time to green: generate + `make install` + `make check`, against its targets and
side by side with the template as it was at another commit.

For each variant, in interleaved rounds (so a busy machine slows both alike): the
template of this checkout and the template at `--baseline` (a git ref, exported
to a temporary folder; default: the commit before the time-to-green work), both
with the user's warm uv cache, a new project each time. The table gives the
median seconds of each step, the ratio to the baseline, the ratio to the
target (serving 45 s; rag and fine-tuning 90 s), the CPU seconds of `make check`
(less sensitive than wall time to another user of the machine) with their ratio,
and the load average (1 minute) when the variant's rounds ended.

Torch variants install the CPU wheel that lies on this machine where there is one
(as the template's tests do). Commands run in the user's environment as Python
leaves it by default, writing bytecode: a shell with PYTHONDONTWRITEBYTECODE=1 (as
on the machines this was first measured on) recompiles every module in every
process, so each subprocess a test starts (the fine-tuning variant's two-process
launch, above all) compiles torch and MLflow again; `--keep-env` measures with the
environment as it is.

    uv run python benchmarks/time_to_green.py [--variants serving] [--rounds 2]
        [--baseline 765870f] [--keep-env]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baking import REPO, bake

from support import project_env, use_local_torch

TARGET_SECONDS = {"serving": 45.0, "rag": 90.0, "fine-tuning": 90.0}
STEPS = ("generate", "install", "check")
# CPU seconds of `make check` (lint, mypy, pytest and what they start): what the two
# cores had to do, which another user of the machine slows less than the wall time.
CHECK_CPU = "check CPU"


def children_cpu() -> float:
    """CPU seconds (user and system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of a command and every process it starts."""
    started, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr
        sys.exit(f"{' '.join(args)} failed in {cwd}:\n{output}")
    return time.perf_counter() - started, children_cpu() - cpu


def to_green(
    variant: str, template: Path, scratch: Path, keep_env: bool = False
) -> dict[str, float]:
    """Seconds to generate, to install and to pass `make check`."""
    started = time.perf_counter()
    project = bake(variant, scratch, template)
    seconds = {"generate": time.perf_counter() - started}
    env = project_env(**use_local_torch(project))
    if keep_env and "PYTHONDONTWRITEBYTECODE" in os.environ:
        env["PYTHONDONTWRITEBYTECODE"] = os.environ["PYTHONDONTWRITEBYTECODE"]
    seconds["install"], _ = timed(["make", "install"], project, env)
    seconds["check"], seconds[CHECK_CPU] = timed(
        ["make", "check"], project, {**env, "UV_OFFLINE": "1"}
    )
    return seconds


def exported(ref: str, folder: Path) -> Path:
    """The template as committed at `ref`, in `folder`."""
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", ref], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="serving,rag,fine-tuning")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", default="765870f")
    parser.add_argument(
        "--keep-env",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE if the environment sets it",
    )
    args = parser.parse_args()
    load = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, load {load:.1f}"
    bytecode = (
        "bytecode not written"
        if args.keep_env and os.environ.get("PYTHONDONTWRITEBYTECODE")
        else "bytecode written"
    )
    print(
        f"# Time to green ({machine}, median of {args.rounds}, {bytecode};"
        f" baseline {args.baseline})\n"
    )
    print(
        "| variant | template | generate s | install s | check s | total s "
        "| / baseline | / target | check CPU s | / baseline | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        templates = {
            "this checkout": REPO,
            "baseline": exported(args.baseline, scratch / "baseline"),
        }
        for variant in args.variants.split(","):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in templates}
            for round_ in range(args.rounds):
                for name, template in templates.items():
                    out = scratch / f"{variant}-{round_}-{name.replace(' ', '-')}"
                    runs[name].append(to_green(variant, template, out, args.keep_env))
            totals = {
                name: statistics.median(sum(run[s] for s in STEPS) for run in measured)
                for name, measured in runs.items()
            }
            cpu = {
                name: statistics.median(run[CHECK_CPU] for run in measured)
                for name, measured in runs.items()
            }
            target = TARGET_SECONDS.get(variant, 90.0)
            load = os.getloadavg()[0]
            for name, measured in runs.items():
                steps = " | ".join(
                    f"{statistics.median(run[step] for run in measured):.1f}"
                    for step in STEPS
                )
                print(
                    f"| {variant} | {name} | {steps} | {totals[name]:.1f} "
                    f"| {totals[name] / totals['baseline']:.2f} "
                    f"| {totals[name] / target:.2f} | {cpu[name]:.1f} "
                    f"| {cpu[name] / cpu['baseline']:.2f} | {load:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
