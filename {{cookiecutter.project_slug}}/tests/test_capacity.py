from pathlib import Path

import yaml

from {{ cookiecutter.package_name }}.platform.capacity import (
    MIN_REPLICAS,
    TARGET_UTILISATION,
    replica_table,
    replicas_for,
)

AUTOSCALER = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes" / "autoscaler.yaml"


def test_a_replica_plans_for_the_target_share_of_what_it_sustained() -> None:
    # 100/s sustained: 70/s planned per replica at a 70% target.
    assert replicas_for(700, 100) == 10
    assert replicas_for(701, 100) == 11
    assert replicas_for(1, 100) == MIN_REPLICAS


def test_the_table_has_a_row_per_load_in_its_unit() -> None:
    assert replica_table(100, (10, 1_000), "requests/s") == [
        "| steady load | replicas |",
        "|---|---|",
        "| 10 requests/s | 2 |",
        "| 1,000 requests/s | 15 |",
    ]


def test_the_plan_uses_the_autoscalers_own_target_and_floor() -> None:
    spec = yaml.safe_load(AUTOSCALER.read_text(encoding="utf-8"))["spec"]
    target = spec["metrics"][0]["resource"]["target"]["averageUtilization"]

    assert target == round(TARGET_UTILISATION * 100)
    assert spec["minReplicas"] == MIN_REPLICAS
