"""Every variant's image builds from its Dockerfile and serves as non-root.

Each image is built through `ARG BASE_IMAGE` on a local Debian base (no registry
here) after the project's own `make artifacts`, run with its port published on
loopback, and asked for `/health`, `/ready` and a real answer from its main
endpoint. Secrets planted in the project must not reach it. Torch variants are
built through `ARG BUILDER_IMAGE` on a builder that holds the local CPU torch
wheel their lock names; the runtime stage is the plain base in every case.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from docker_engine import (
    build_args,
    buildkit_env,
    ensure_engine_and_base,
    ensure_wheelhouse_builder,
    sh,
)

from support import (
    CHURNING_ACCOUNT,
    COOKIECUTTER_JSON,
    TINY_TRAIN,
    call,
    free_port,
    install_with_local_torch,
    make,
    poll,
    save_qwen2_folder,
)

ACCOUNT = CHURNING_ACCOUNT
MESSAGE = "Hi, why did my bill go up."


def _churns(body: dict[str, Any]) -> bool:
    return body["predictions"][0]["churn"] is True


def _cites_api_keys_page(body: dict[str, Any]) -> bool:
    # kb-23 is the page "API authentication and API keys".
    return bool(body["sources"][0]["doc_id"] == "kb-23")


def _routes_to_billing(body: dict[str, Any]) -> bool:
    return body["label"] == "billing" and body["adapter"] is True


@dataclass(frozen=True)
class Variant:
    name: str
    endpoint: str
    good: dict[str, Any]
    bad: dict[str, Any]
    answered_right: Callable[[dict[str, Any]], bool]
    # Points the app at an artifact that is not there: it runs, but is never ready.
    unloadable: str


VARIANTS = [
    Variant(
        "serving",
        "/predict",
        ACCOUNT,
        ACCOUNT | {"contract": "weekly"},
        _churns,
        "MODEL_URI=/nowhere",
    ),
    Variant(
        "rag",
        "/query",
        {"question": "How do I rotate an API key without downtime?"},
        {"question": ""},
        _cites_api_keys_page,
        "INDEX_DIR=/nowhere",
    ),
    Variant(
        "fine-tuning",
        "/generate",
        {"prompt": MESSAGE},
        {"prompt": MESSAGE, "max_new_tokens": 0},
        _routes_to_billing,
        "ADAPTER_DIR=/nowhere",
    ),
]


@pytest.fixture(scope="module")
def client() -> str:
    return ensure_engine_and_base()


@pytest.fixture(params=VARIANTS, ids=[variant.name for variant in VARIANTS])
def image(
    request: pytest.FixtureRequest,
    client: str,
    fresh_bake: Callable[[Mapping[str, str]], Path],
) -> Iterator[tuple[Variant, str]]:
    variant: Variant = request.param
    project = fresh_bake({"variant": variant.name, "init_git": "no"})
    shipped = COOKIECUTTER_JSON["_variant_table"][variant.name]["ships"]
    torch_env = install_with_local_torch(project)
    builder = None
    if torch_env:
        builder = ensure_wheelhouse_builder(Path(torch_env["UV_FIND_LINKS"]))
    # CI=true: what the generated workflow's docker job runs (a tiny base model
    # for fine-tuning, which has neither the hub nor a GPU there).
    make(project, "artifacts", extra_env={**torch_env, "CI": "true"})
    # Planted where a careless Dockerfile or .dockerignore would pick them up.
    (project / ".env").write_text("API_KEY=planted-secret\n")
    (project / shipped / ".env").write_text("API_KEY=planted-secret\n")
    (project / "src" / "credentials.json").write_text('{"token": "planted-secret"}\n')
    # What a killed `make train` leaves beside the artifact: never part of an image.
    staging = project / shipped / ".leftover.999999.abcd"
    staging.mkdir()
    (staging / "weights.bin").write_text("planted-secret\n")
    tag = f"ml-portfolio-test/{variant.name}:{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    build(client, project, tag, builder)
    build_s = time.monotonic() - started
    try:
        size_mb = int(sh(client, "image", "inspect", "-f", "{{.Size}}", tag)) / 1e6
        _record(variant.name, size_mb, build_s)
        yield variant, tag
    finally:
        subprocess.run([client, "rmi", "-f", tag], capture_output=True, check=False)


def _record(variant: str, size_mb: float, build_s: float) -> None:
    """Print the figures, and append them where IMAGE_REPORT points (benchmarks)."""
    line = f"{variant} image: {size_mb:.0f} MB, built in {build_s:.0f} s"
    print(line)
    report = os.environ.get("IMAGE_REPORT")
    if report:
        with Path(report).open("a", encoding="utf-8") as handle:
            record = {"variant": variant, "size_mb": round(size_mb)}
            record["build_s"] = round(build_s)
            handle.write(json.dumps(record) + "\n")


HEALTH_PROBE = (
    "--health-interval=1s",
    "--health-retries=2",
    "--health-start-period=1s",
)


def _health(client: str, name: str, wanted: str) -> str:
    """The container's health status once it is `wanted`, or the last seen in 60 s."""
    status, deadline = "", time.monotonic() + 60
    while status != wanted and time.monotonic() < deadline:
        status = sh(client, "inspect", "-f", "{{.State.Health.Status}}", name).strip()
        if status != wanted:
            time.sleep(0.5)
    return status


# As deploy/kubernetes runs it: read-only root filesystem, /tmp in memory.
READ_ONLY = ("--read-only", "--tmpfs", "/tmp")  # noqa: S108 - the container's own


@dataclass
class Container:
    """A running container: its name, its URL on loopback, and its logs once stopped."""

    name: str
    base: str
    logs: str = ""


@contextlib.contextmanager
def running(client: str, tag: str, *options: str) -> Iterator[Container]:
    """`docker run -d` the image on a free loopback port; remove it, keep its logs."""
    port = free_port()
    container = Container(f"app-{uuid.uuid4().hex[:8]}", f"http://127.0.0.1:{port}")
    published = ("-p", f"127.0.0.1:{port}:8000")
    sh(client, "run", "-d", "--name", container.name, *options, *published, tag)
    try:
        yield container
    finally:
        logs = subprocess.run(
            [client, "logs", container.name],
            capture_output=True,
            text=True,
            check=False,
        )
        container.logs = logs.stdout + logs.stderr
        subprocess.run(
            [client, "rm", "-f", container.name], capture_output=True, check=False
        )


def build(client: str, project: Path, tag: str, builder: str | None) -> None:
    sh(
        client,
        "build",
        *build_args(builder),
        "-t",
        tag,
        str(project),
        timeout=1800,
        env=buildkit_env(),
    )


def test_image_answers_as_non_root_without_planted_secrets(
    client: str, image: tuple[Variant, str]
) -> None:
    variant, tag = image
    leaked = sh(
        client,
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        tag,
        "-c",
        "grep -rl planted-secret /app /home /tmp 2>/dev/null || true",
    )
    with running(client, tag, *HEALTH_PROBE, *READ_ONLY) as container:
        base = container.base
        ready, deadline = (0, ""), time.monotonic() + 180
        while ready[0] != 200 and time.monotonic() < deadline:
            try:
                ready = call(f"{base}/ready")
            except OSError:
                ready = (0, "")
            if ready[0] != 200:
                time.sleep(0.5)
        health = call(f"{base}/health")
        answered = call(f"{base}{variant.endpoint}", variant.good)
        invalid = call(f"{base}{variant.endpoint}", variant.bad)
        uid = sh(client, "exec", container.name, "id", "-u").strip()
        healthy = _health(client, container.name, "healthy")

    assert ready[0] == 200, f"{ready}\n{container.logs}"
    assert health[0] == 200
    assert answered[0] == 200, answered
    assert variant.answered_right(json.loads(answered[1])), answered[1]
    assert invalid[0] == 422
    assert uid == "10001"
    assert leaked.strip() == ""
    assert healthy == "healthy"


def test_a_container_whose_model_never_loads_reports_unhealthy(
    client: str, image: tuple[Variant, str]
) -> None:
    variant, tag = image
    broken = ("-e", variant.unloadable)
    with running(client, tag, *HEALTH_PROBE, *broken) as container:
        status = _health(client, container.name, "unhealthy")

    assert status == "unhealthy"


@pytest.fixture
def local_base_image(
    client: str, fresh_bake: Callable[[Mapping[str, str]], Path]
) -> Iterator[str]:
    """A fine-tuning image whose adapter was trained on a base from a local folder
    (`BASE_MODEL=<folder>`), built after that folder is gone."""
    project = fresh_bake({"variant": "fine-tuning", "init_git": "no"})
    torch_env = install_with_local_torch(project)
    builder = None
    if torch_env:
        builder = ensure_wheelhouse_builder(Path(torch_env["UV_FIND_LINKS"]))
    folder = save_qwen2_folder(project, project.parent / "qwen2-base", torch_env)
    make(
        project,
        "train",
        extra_env={**torch_env, **TINY_TRAIN, "BASE_MODEL": str(folder)},
    )
    shutil.rmtree(folder)
    tag = f"ml-portfolio-test/fine-tuning-local:{uuid.uuid4().hex[:8]}"
    build(client, project, tag, builder)
    try:
        yield tag
    finally:
        subprocess.run([client, "rmi", "-f", tag], capture_output=True, check=False)


def test_a_base_from_a_local_folder_ships_inside_the_image(
    client: str, local_base_image: str
) -> None:
    with running(client, local_base_image, *READ_ONLY) as container:
        ready = poll(f"{container.base}/ready", lambda status, _: status == 200, 180)
        answered = call(f"{container.base}/generate", {"prompt": MESSAGE})

    assert ready[0] == 200, f"{ready}\n{container.logs}"
    assert answered[0] == 200, answered
    assert json.loads(answered[1])["model_version"] == "qwen2-base+lora"
