"""A fine-tuning project installs, passes its own gate, smoke-trains on CPU and serves.

Like test_generated_gate.py, but for the variant that needs torch: the baked copy is
pointed at the local CPU torch wheel (`use_local_torch`) before `make install`, the
only step that may reach the package index. Serving starts without a trained adapter
(training the default model needs the hub): `/ready` must say so with a 503.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from support import call, make, poll, running_api, use_local_torch


@pytest.fixture
def fine_tuning_project(
    fresh_bake: Callable[[Mapping[str, str]], Path],
) -> tuple[Path, dict[str, str]]:
    project = fresh_bake({"variant": "fine-tuning", "init_git": "yes"})
    torch_env = use_local_torch(project)
    make(project, "install", offline=False, extra_env=torch_env)
    return project, torch_env


def test_fine_tuning_project_passes_its_gate_smoke_trains_and_serves(
    fine_tuning_project: tuple[Path, dict[str, str]],
) -> None:
    project, torch_env = fine_tuning_project
    bundled = {
        name: (project / "data" / name).read_bytes()
        for name in ("train.jsonl", "validation.jsonl", "test.jsonl")
    }

    gate = make(project, "check", extra_env=torch_env)
    passed = int(gate.rsplit(" passed", 1)[0].rsplit(" ", 1)[-1])
    assert passed >= 60
    assert "Required test coverage of 90" in gate

    make(project, "data", extra_env=torch_env)
    for name, content in bundled.items():
        assert (project / "data" / name).read_bytes() == content, (
            f"make data changed {name}"
        )

    make(project, "gpu-smoke", extra_env={**torch_env, "STEPS": "3"})
    smoke = json.loads((project / "results" / "gpu_smoke.json").read_text())
    assert smoke["device"] == "cpu"
    assert smoke["tokens_per_second"] > 0
    assert smoke["peak_memory_mb"] > 0

    with running_api(project, torch_env) as base:
        ready = poll(f"{base}/ready", lambda _, text: "loading" not in text, 60)
        invalid = call(f"{base}/generate", {"prompt": "", "max_new_tokens": 0})
        unready = call(f"{base}/generate", {"prompt": "please close my account"})
        metrics_text = call(f"{base}/metrics")[1]

    assert ready[0] == 503
    assert "make train" in json.loads(ready[1])["reason"]
    assert invalid[0] == 422
    assert "prompt" in invalid[1]
    assert "max_new_tokens" in invalid[1]
    assert unready[0] == 503
    assert (
        'http_requests_total{method="POST",route="/generate",status="422"} 1.0'
        in metrics_text
    )
