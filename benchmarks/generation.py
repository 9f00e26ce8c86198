"""Generation time: this template per variant vs a one-file baseline template,
and vs peer templates when their folders are given.

The baseline is the smallest cookiecutter template a user could write (one
question, one file, no hooks, no extensions), made afresh in a temporary folder.
Everything is generated through cookiecutter's Python API in this process, in
interleaved rounds (one run of each template per round, median over rounds), so
a busy machine slows every template alike.

Peers are the public templates style.md learns from (cookiecutter-data-science,
cookiecutter-pypackage, cookiecutter-mlops-package, cookiecutter-hypermodern-python):
clone them anywhere and pass their folders; nothing of theirs is kept here. They
are generated with their defaults; ours with `init_git=no`, as none of them makes
a commit (the `yes` rows show what the first commit adds).

    uv run python benchmarks/generation.py [--runs 10] [--peer FOLDER ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
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


def one_run(template: Path, answers: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory() as out, silenced_stdout():
        started = time.perf_counter()
        cookiecutter(
            str(template), no_input=True, output_dir=out, extra_context=answers
        )
        return time.perf_counter() - started


def medians(
    templates: dict[str, tuple[Path, dict[str, str]]], runs: int
) -> dict[str, float | str]:
    """Median seconds per template over interleaved rounds; a failure's message."""
    times: dict[str, list[float]] = {name: [] for name in templates}
    failed: dict[str, str] = {}
    for _ in range(runs):
        for name, (template, answers) in templates.items():
            if name in failed:
                continue
            try:
                times[name].append(one_run(template, answers))
            except Exception as error:  # a peer's hook may need tools this lacks
                failed[name] = f"failed: {type(error).__name__}: {str(error)[:80]}"
    return {
        name: failed.get(name) or statistics.median(times[name]) for name in templates
    }


def variants() -> list[str]:
    return list(json.loads((REPO / "cookiecutter.json").read_text())["variant"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--peer", type=Path, action="append", default=[], help="A peer template folder."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        templates: dict[str, tuple[Path, dict[str, str]]] = {
            "one-file baseline": (baseline_template(Path(scratch)), {})
        }
        for variant in variants():
            for git in ("no", "yes"):
                answers = {"variant": variant, "init_git": git}
                templates[f"{variant}, init_git={git}"] = (REPO, answers)
        for peer in args.peer:
            templates[f"peer: {peer.resolve().name}"] = (peer.resolve(), {})
        seconds = medians(templates, args.runs)
    baseline = seconds["one-file baseline"]
    if isinstance(baseline, str):
        sys.exit(f"the one-file baseline {baseline}")
    peers = [value for name, value in seconds.items() if name.startswith("peer:")]
    fastest = min((value for value in peers if isinstance(value, float)), default=None)
    print(
        f"# Generation time, median of {args.runs} interleaved runs "
        f"({platform.machine()}, {platform.python_version()})\n"
    )
    print("| template | median s | ratio to baseline | ratio to the fastest peer |")
    print("|---|---|---|---|")
    for name, value in seconds.items():
        if isinstance(value, str):
            print(f"| {name} | {value} | | |")
            continue
        to_peer = f"{value / fastest:.2f}" if fastest else "-"
        print(f"| {name} | {value:.3f} | {value / baseline:.1f} | {to_peer} |")
    if fastest is None:
        print("\n(no peer measured: pass --peer FOLDER for each peer template)")


if __name__ == "__main__":
    main()
