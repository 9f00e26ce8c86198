"""cookiecutter.json's `_variant_table` is the one list of variants: the question's
choices, the hooks, the image and the overlays all follow it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from support import (
    COOKIECUTTER_JSON,
    answer_rules,
    choices,
    render_answers,
    variant_folders,
)

TABLE = COOKIECUTTER_JSON["_variant_table"]
FIELDS = {
    "project_name",
    "description",
    "first_steps",
    "ships",
    "image_env",
    "torch",
    "pod_memory",
}


def test_the_question_offers_exactly_the_rows_of_the_table_in_order() -> None:
    assert choices("variant") == list(TABLE)


def test_every_row_has_every_field_and_an_overlay_and_every_overlay_a_row() -> None:
    assert variant_folders() == set(TABLE)
    for name, row in TABLE.items():
        assert set(row) == FIELDS, name
        assert row["first_steps"][0] == "install", name
        assert "check" in row["first_steps"], name


def test_a_variant_outside_the_table_is_refused_naming_the_table() -> None:
    hook = answer_rules()

    problems = hook.validate(render_answers(variant="forecasting"))

    assert len(problems) == 1
    assert problems[0].startswith("variant 'forecasting' is not ")
    assert all(name in problems[0] for name in TABLE)


@pytest.mark.parametrize("variant", list(TABLE))
def test_the_image_ships_what_the_row_names_and_points_the_app_at_it(
    baked: Callable[..., Path], variant: str
) -> None:
    row = TABLE[variant]
    project = baked(variant=variant)
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    shipped = re.search(
        r"^SHIPPED := (\S+)$", (project / "project.mk").read_text(), re.M
    )

    assert shipped, "project.mk names no SHIPPED artifact"
    assert shipped.group(1).split("/")[0] == row["ships"]
    assert f"COPY {row['ships']}/ ./{row['ships']}/" in dockerfile
    assert f"!{row['ships']}/" in (project / ".dockerignore").read_text().splitlines()
    for name, value in row["image_env"].items():
        assert f"    {name}={value} \\" in dockerfile.splitlines()


@pytest.mark.parametrize("variant", list(TABLE))
def test_the_pod_asks_for_the_memory_the_row_names(
    baked: Callable[..., Path], variant: str
) -> None:
    request, limit = TABLE[variant]["pod_memory"]
    manifest = baked(variant=variant) / "deploy" / "kubernetes" / "deployment.yaml"

    deployment = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]

    assert resources["requests"]["memory"] == request
    assert resources["limits"]["memory"] == limit


@pytest.mark.parametrize("variant", list(TABLE))
def test_a_project_left_unnamed_is_named_and_described_for_what_it_builds(
    baked: Callable[..., Path], variant: str
) -> None:
    row = TABLE[variant]

    project = baked(variant=variant)

    readme = (project / "README.md").read_text(encoding="utf-8").splitlines()
    assert readme[0] == f"# {row['project_name']}"
    assert row["description"] in readme
    assert project.name == row["project_name"].lower().replace(" ", "-")
