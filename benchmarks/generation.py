"""Generation time: this template per variant vs a one-file baseline template.

The baseline is the smallest cookiecutter template a user could write (one
question, one file, no hooks, no extensions), made afresh in a temporary folder.
Both are generated through cookiecutter's Python API in this process, so the
ratio is the overhead our hooks, filters and files add to cookiecutter itself.

    uv run python benchmarks/generation.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from baking import silenced_stdout
from cookiecutter.main import cookiecutter

REPO = Path(__file__).resolve().parents[1]


def baseline_template(root: Path) -> Path:
    template = root / "baseline"
    (template / "{{cookiecutter.project_slug}}").mkdir(parents=True)
    (template / "cookiecutter.json").write_text(
        json.dumps(
            {"project_name": "Churn Risk Service", "project_slug": "churn-risk-service"}
        )
    )
    (template / "{{cookiecutter.project_slug}}" / "README.md").write_text(
        "# {{ cookiecutter.project_name }}\n"
    )
    return template


def median_seconds(template: Path, runs: int, **answers: str) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out, silenced_stdout():
            started = time.perf_counter()
            cookiecutter(
                str(template), no_input=True, output_dir=out, extra_context=answers
            )
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def variants() -> list[str]:
    return list(json.loads((REPO / "cookiecutter.json").read_text())["variant"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        baseline = median_seconds(baseline_template(Path(scratch)), args.runs)
    print(
        f"# Generation time, median of {args.runs} runs ({platform.machine()}, "
        f"{platform.python_version()})\n"
    )
    print("| template | init_git | median s | ratio to baseline |")
    print("|---|---|---|---|")
    print(f"| one-file baseline | - | {baseline:.3f} | 1.0 |")
    for variant in variants():
        for git in ("no", "yes"):
            seconds = median_seconds(REPO, args.runs, variant=variant, init_git=git)
            print(f"| {variant} | {git} | {seconds:.3f} | {seconds / baseline:.1f} |")


if __name__ == "__main__":
    main()
