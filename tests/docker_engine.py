"""A Docker engine and a local base image for the container tests.

No registry is reachable from CI, so nothing can be pulled: the suite installs
Debian's engine when none answers (root and apt are needed for that), and builds
a Debian bookworm base with python3 by debootstrap, which stands in for the
official `python:3.11-slim-bookworm` through the Dockerfile's `ARG BASE_IMAGE`.
Both are made once per machine and reused; a file lock keeps xdist workers from
doing it twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

BASE_IMAGE = "local/bookworm-python:3.11"
LOCK = Path(tempfile.gettempdir()) / "ml-portfolio-template-docker.lock"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def docker() -> str:
    """Debian's client when present: the newer client on PATH wants buildx."""
    debian = Path("/usr/bin/docker")
    found = str(debian) if debian.exists() else shutil.which("docker")
    if not found:
        raise RuntimeError("no docker client: install Debian's docker.io")
    return found


def sh(
    *args: str,
    timeout: int = 900,
    env: Mapping[str, str] | None = None,
    stdin: IO[bytes] | None = None,
) -> str:
    """Run a command; raise with its output when it fails."""
    result = subprocess.run(
        list(args),
        capture_output=True,
        timeout=timeout,
        check=False,
        env=None if env is None else dict(env),
        stdin=stdin,
    )
    out = result.stdout.decode(errors="replace")
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace")
        raise RuntimeError(f"{' '.join(args)} failed:\n{out}{err}")
    return out


def engine_answers() -> bool:
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired, OSError):
        sh(docker(), "info", timeout=20)
        return True
    return False


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    with LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_engine() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(
            "the container tests need a Docker engine: start one, or run the suite "
            "as root on Debian so it can `apt-get install docker.io debootstrap`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sh("apt-get", "update", env=env)
    sh(
        "apt-get",
        "install",
        "-y",
        "--no-install-recommends",
        "docker.io",
        "debootstrap",
        env=env,
    )


def clear_stale_pid_file(pid_file: Path = Path("/var/run/docker.pid")) -> None:
    """A dockerd that was killed leaves its pid file, and a new one refuses to start."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
    except PermissionError:
        pass  # the process exists under another user: not stale


def start_engine() -> None:
    clear_stale_pid_file()
    log = Path(tempfile.gettempdir()) / "ml-portfolio-template-dockerd.log"
    with log.open("ab") as out:
        subprocess.Popen(  # the engine outlives the test session on purpose
            ["dockerd"], stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if engine_answers():
            return
        time.sleep(1)
    raise RuntimeError(f"dockerd did not answer within 90 s; see {log}")


def debian_mirror() -> str:
    """The mirror apt already uses here, so debootstrap reaches what apt reaches."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    ):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            match = re.search(
                r"^URIs:\s*(\S+/debian)\s*$", text, re.MULTILINE
            ) or re.search(
                r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s", text, re.MULTILINE
            )
            if match:
                return match.group(1)
    return DEFAULT_MIRROR


def build_base_image() -> None:
    if not shutil.which("debootstrap"):
        install_engine()
    with tempfile.TemporaryDirectory() as rootfs:
        sh(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,python3-pip,ca-certificates",
            "bookworm",
            rootfs,
            debian_mirror(),
        )
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        sh(
            docker(),
            "import",
            "-c",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "-",
            BASE_IMAGE,
            stdin=tar.stdout,
        )
        tar.wait()


def ensure_engine_and_base() -> str:
    """Return the docker client once an engine answers and the base image exists."""
    with machine_lock():
        if not engine_answers():
            if not shutil.which("dockerd"):
                install_engine()
            start_engine()
        client = docker()
        try:
            sh(client, "image", "inspect", BASE_IMAGE, timeout=30)
        except RuntimeError:
            build_base_image()
        return client


def ensure_wheelhouse_builder(folder: Path) -> str:
    """A builder image: the local base plus `folder` at the same absolute path.

    A baked project locked against the local CPU torch wheel records that folder
    in uv.lock; the Dockerfile's `ARG BUILDER_IMAGE` lets the build stage see it
    while the runtime stage stays the plain base, so image sizes are honest.
    """
    tag = f"{BASE_IMAGE}-wheelhouse"
    with machine_lock():
        try:
            sh(docker(), "image", "inspect", tag, timeout=30)
        except RuntimeError:
            with tempfile.TemporaryDirectory() as context:
                shutil.copytree(folder, Path(context) / "wheels")
                (Path(context) / "Dockerfile").write_text(
                    f"FROM {BASE_IMAGE}\nCOPY wheels/ {folder.resolve()}/\n"
                )
                sh(docker(), "build", "-t", tag, context, env=buildkit_env())
    return tag


def buildkit_env() -> dict[str, str]:
    """BuildKit is needed for the Dockerfile's secret and cache mounts."""
    return {**os.environ, "DOCKER_BUILDKIT": "1"}


def build_args(builder: str | None = None) -> list[str]:
    """Reach the package index from the build; the host CA goes in as a secret."""
    args = ["--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
    if builder:
        args += ["--build-arg", f"BUILDER_IMAGE={builder}"]
    if CA_BUNDLE.is_file():
        args += ["--secret", f"id=ca,src={CA_BUNDLE}"]
    return args
