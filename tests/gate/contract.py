"""The shape of a variant's gate proofs, and the project they act on."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import make


@dataclass
class Gate:
    """A baked and installed project, as the proofs see it."""

    variant: str
    project: Path
    # What every target after `make install` needs (the local torch wheel, if any).
    env: dict[str, str]
    # The README as baked, before any target rewrote it.
    shipped_readme: str
    # What one proof leaves for a later one (bundled bytes, a smoke run's figures).
    notes: dict[str, Any] = field(default_factory=dict)

    def make(self, *targets: str, **extra_env: str) -> str:
        """Run the project's Make targets offline; their output."""
        return make(self.project, *targets, extra_env={**self.env, **extra_env})

    def readme(self) -> str:
        return (self.project / "README.md").read_text(encoding="utf-8")

    def results(self, name: str) -> Any:
        """A JSON file of the project's results/."""
        return json.loads((self.project / "results" / name).read_text())


@dataclass(frozen=True)
class Reported:
    """`make report` run from results/ alone, and the README before and after."""

    output: str
    before: str
    after: str
    figure: Path


def _nothing(_: Gate) -> None:
    """No proof at this point."""


StepProof = Callable[[Gate, str], None]
"""A proof about one first step, given the target's output."""


@dataclass(frozen=True)
class VariantProofs:
    """What one variant's gate proves beyond the shared steps, and when."""

    variant: str
    # The figure `make report` draws (relative to the project); removed first, so
    # the report must redraw it.
    figure: str
    # The project's own suite passes at least this many tests in `make check`.
    tests_at_least: int
    after_report: Callable[[Gate, Reported], None]
    # Requests (and their asserts) against the served API, once it is ready.
    while_serving: Callable[[Gate, str], None]
    # Out of reach while `make report` runs, beyond the row's shipped artifact,
    # mlflow.db and data/.
    also_away: tuple[str, ...] = ()
    # Extra environment for a first step, by its target name.
    step_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Proofs on a first step's output, by its target name.
    after_step: Mapping[str, StepProof] = field(default_factory=dict)
    # Right after install, before the first steps make any artifact.
    before_first_steps: Callable[[Gate], None] = _nothing
    serve_env: Mapping[str, str] = field(default_factory=dict)
    ready_within_s: float = 120
    after_serving: Callable[[Gate], None] = _nothing
