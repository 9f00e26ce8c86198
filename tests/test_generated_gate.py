"""Every variant's generated project installs, runs its first steps, reports from
results/ alone, passes its own gate and serves, offline.

One test per row of cookiecutter.json's `_variant_table`; the steps every variant
shares are written once here, and what a variant proves beyond them lives in its
module under tests/gate/ (found by `gate.registered()`). These are the slowest tests
of the suite: each bakes a project, syncs it with uv (sharing uv's cache), then runs
the project's own Make targets exactly as a user would. Only `make install` may
reach the package index (a project that needs torch is pointed at the CPU wheel on
this machine first); everything after it runs with UV_OFFLINE=1 and the offline
switches the generated tests also set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from gate import registered
from gate.contract import Gate, Reported, VariantProofs
from support import (
    COOKIECUTTER_JSON,
    REPO,
    call,
    install_with_local_torch,
    make,
    poll,
    running_api,
)

TABLE: dict[str, dict[str, Any]] = COOKIECUTTER_JSON["_variant_table"]
# The first steps the shared test runs itself, around the row's own targets.
INSTALL, CHECK, SERVE = "install", "check", "serve"


def test_every_table_row_has_gate_proofs_and_every_proof_a_row() -> None:
    proofs = registered()

    assert set(proofs) == set(TABLE), (
        f"rows without proofs in tests/gate/: {sorted(set(TABLE) - set(proofs))}; "
        f"proofs without a row: {sorted(set(proofs) - set(TABLE))}"
    )


@pytest.mark.parametrize("variant", list(TABLE))
def test_every_step_a_variant_proves_something_about_is_one_of_its_first_steps(
    variant: str,
) -> None:
    """A proof keyed to a target the row does not run would silently never run."""
    proofs = _proofs(variant)
    making = _making_steps(TABLE[variant])

    assert set(proofs.after_step) <= set(making), (variant, making)
    assert set(proofs.step_env) <= set(making), (variant, making)


@pytest.fixture
def gate(request: pytest.FixtureRequest, fresh_bake: Callable[..., Path]) -> Gate:
    """The variant baked with a git repository and installed, as a user starts."""
    variant: str = request.param
    project = fresh_bake({"variant": variant, "init_git": "yes"})
    shipped = (project / "README.md").read_text(encoding="utf-8")
    if TABLE[variant]["torch"]:
        env = install_with_local_torch(project)
    else:
        make(project, INSTALL, offline=False)
        env = {}
    return Gate(variant, project, env, shipped)


@pytest.mark.parametrize("gate", list(TABLE), indirect=True)
def test_every_variant_runs_its_first_steps_passes_its_gate_and_serves(
    gate: Gate,
) -> None:
    row = TABLE[gate.variant]
    proofs = _proofs(gate.variant)
    proofs.before_first_steps(gate)

    for step in _making_steps(row):
        output = gate.make(step, **proofs.step_env.get(step, {}))
        if step in proofs.after_step:
            proofs.after_step[step](gate, output)

    proofs.after_report(gate, _report_from_results_alone(gate, row, proofs))

    # As a user runs it right after generating: cookiecutter's virtualenv still active.
    checked = gate.make(CHECK, VIRTUAL_ENV=str(REPO / ".venv"))
    assert "VIRTUAL_ENV" not in checked
    passed = int(checked.rsplit(" passed", 1)[0].rsplit(" ", 1)[-1])
    assert passed >= proofs.tests_at_least
    assert "Required test coverage of 90" in checked
    # Its tests run on pytest-xdist workers by default (TEST_WORKERS=auto).
    assert "workers [" in checked, "make check ran its tests in one process"

    after_check = row["first_steps"][row["first_steps"].index(CHECK) + 1 :]
    assert after_check == [SERVE], f"the gate cannot run {after_check} yet"
    with running_api(gate.project, {**gate.env, **proofs.serve_env}) as base:
        ready = poll(
            f"{base}/ready", lambda status, _: status == 200, proofs.ready_within_s
        )
        assert ready[0] == 200, f"the API never became ready: {ready}"
        assert call(f"{base}/health") == (200, '{"status":"ok"}')
        proofs.while_serving(gate, base)

    proofs.after_serving(gate)


def _proofs(variant: str) -> VariantProofs:
    proofs = registered().get(variant)
    assert proofs is not None, (
        f"variant {variant!r} of cookiecutter.json's _variant_table has no gate "
        "proofs: add a module to tests/gate/ that defines PROOFS for it"
    )
    return proofs


def _making_steps(row: Mapping[str, Any]) -> list[str]:
    """The row's first steps between `make install` and `make check`: the targets
    that make its artifacts and write results/."""
    steps: list[str] = row["first_steps"]
    return steps[steps.index(INSTALL) + 1 : steps.index(CHECK)]


def _report_from_results_alone(
    gate: Gate, row: Mapping[str, Any], proofs: VariantProofs
) -> Reported:
    """The verb contract: with the shipped artifact, the tracking store and the data
    out of reach, `make report` works from results/ alone and redraws its figure."""
    project = gate.project
    figure = project / proofs.figure
    before = gate.readme()
    away = (row["ships"], "mlflow.db", "data", *proofs.also_away)
    for name in away:
        (project / name).rename(project / f"{name}.away")
    try:
        figure.unlink()
        output = gate.make("report")
    finally:
        for name in away:
            (project / f"{name}.away").rename(project / name)
    assert figure.is_file(), f"make report did not redraw {proofs.figure}"
    return Reported(output, before, gate.readme(), figure)
