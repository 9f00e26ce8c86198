"""Every serving variant's image builds from its Dockerfile and serves as non-root.

The image is built through `ARG BASE_IMAGE` on a local Debian base (no registry
here), run with its port published on loopback, and asked for `/health`,
`/ready` and a real prediction. Secrets planted in the project must not reach it.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from docker_engine import build_args, buildkit_env, ensure_engine_and_base, sh

from support import call, free_port, make

ACCOUNT = {
    "tenure_months": 2,
    "monthly_charges": 95.0,
    "support_calls": 5,
    "contract": "month-to-month",
    "payment_method": "electronic-check",
    "has_internet": True,
}


@pytest.fixture(scope="module")
def client() -> str:
    return ensure_engine_and_base()


@pytest.fixture
def serving_image(
    client: str, fresh_bake: Callable[[Mapping[str, str]], Path]
) -> Iterator[tuple[str, Path]]:
    project = fresh_bake({"variant": "serving", "init_git": "no"})
    make(project, "install", offline=False)
    make(project, "train")
    # Planted where a careless Dockerfile or .dockerignore would pick them up.
    (project / ".env").write_text("API_KEY=planted-secret\n")
    (project / "models" / ".env").write_text("API_KEY=planted-secret\n")
    (project / "src" / "credentials.json").write_text('{"token": "planted-secret"}\n')
    tag = f"ml-portfolio-test/serving:{uuid.uuid4().hex[:8]}"
    sh(
        client,
        "build",
        *build_args(),
        "-t",
        tag,
        str(project),
        timeout=1200,
        env=buildkit_env(),
    )
    try:
        yield tag, project
    finally:
        subprocess.run([client, "rmi", "-f", tag], capture_output=True, check=False)


def test_serving_image_answers_as_non_root_without_planted_secrets(
    client: str, serving_image: tuple[str, Path]
) -> None:
    tag, _ = serving_image
    size_mb = int(sh(client, "image", "inspect", "-f", "{{.Size}}", tag)) / 1e6
    print(f"serving image size: {size_mb:.0f} MB")
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
    port = free_port()
    name = f"serving-{uuid.uuid4().hex[:8]}"
    sh(client, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", tag)
    base = f"http://127.0.0.1:{port}"
    try:
        status, deadline = 0, time.monotonic() + 120
        while status != 200 and time.monotonic() < deadline:
            try:
                status, _ = call(f"{base}/ready")
            except OSError:
                status = 0
            if status != 200:
                time.sleep(0.5)
        health = call(f"{base}/health")
        predicted = call(f"{base}/predict", ACCOUNT)
        invalid = call(f"{base}/predict", ACCOUNT | {"contract": "weekly"})
        uid = sh(client, "exec", name, "id", "-u").strip()
    finally:
        logs = subprocess.run(
            [client, "logs", name], capture_output=True, text=True, check=False
        )
        subprocess.run([client, "rm", "-f", name], capture_output=True, check=False)

    assert status == 200, logs.stdout + logs.stderr
    assert health[0] == 200
    assert predicted[0] == 200
    assert json.loads(predicted[1])["predictions"][0]["churn"] is True
    assert invalid[0] == 422
    assert uid == "10001"
    assert leaked.strip() == ""
