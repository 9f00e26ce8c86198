"""What a rag project's runs leave on disk (the index, a killed ingest's staging
folder, the embedding cache) stays out of git and out of the image's build context."""

from __future__ import annotations

import fnmatch
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

RUN_OUTPUTS = [
    "index/manifest.json",
    "index/calibration.json",
    ".index.k1ll3d/vectors.npy",
    ".cache/embeddings/all-MiniLM-L6-v2-0123456789ab/0a1b2c.npz",
]
TRACKED = ["results/benchmark.json", "data/handbook/corpus.jsonl", "README.md"]


@pytest.fixture
def rag(fresh_bake: Callable[[Mapping[str, str]], Path]) -> Path:
    project = fresh_bake({"variant": "rag", "init_git": "no"})
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    for name in RUN_OUTPUTS:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("planted\n")
    return project


def test_the_index_staging_and_embedding_cache_are_never_committed(rag: Path) -> None:
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", *RUN_OUTPUTS, *TRACKED],
        cwd=rag,
        capture_output=True,
        text=True,
        check=False,
    )

    assert set(checked.stdout.split()) == set(RUN_OUTPUTS)


def docker_ignores(patterns: list[str], path: str) -> bool:
    """Docker's rule for these patterns: the last matching line wins, `!` re-includes,
    a folder pattern covers what is inside it, `**/` matches any depth."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for line in patterns:
        negate = line.startswith("!")
        pattern = line.removeprefix("!").rstrip("/")
        candidates = [pattern] + ([pattern[3:]] if pattern.startswith("**/") else [])
        if any(fnmatch.fnmatchcase(p, c) for p in prefixes for c in candidates):
            ignored = not negate
    return ignored


def test_no_staging_folder_or_cache_enters_the_image_build(rag: Path) -> None:
    text = (rag / ".dockerignore").read_text(encoding="utf-8")
    patterns = [line for line in text.splitlines() if line and not line.startswith("#")]
    # What a careless re-include could bring in: staging and cache inside index/.
    inside = ["index/.index.k1ll3d/vectors.npy", "index/.cache/x.npz"]

    assert not docker_ignores(patterns, "index/manifest.json")
    assert not docker_ignores(patterns, "index/calibration.json")
    for path in [*RUN_OUTPUTS[2:], *inside]:
        assert docker_ignores(patterns, path), path
