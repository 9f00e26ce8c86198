"""Replicas for a steady load, planned from one replica's measured throughput.

A replica plans for the autoscaler's CPU target share of what it sustained, and at
least as many replicas run as the autoscaler keeps (deploy/kubernetes/autoscaler.yaml;
the project's tests hold the two equal). Each variant's `make report` words the
measurement; the plan is the same arithmetic for all of them.
"""

import math
from collections.abc import Iterable

TARGET_UTILISATION = 0.7
MIN_REPLICAS = 2


def replicas_for(load: float, sustained: float) -> int:
    """Replicas for `load` when one sustained `sustained` (same unit, per second)."""
    return max(MIN_REPLICAS, math.ceil(load / (sustained * TARGET_UTILISATION)))


def replica_table(sustained: float, loads: Iterable[int], unit: str) -> list[str]:
    """The Markdown rows of a `| steady load | replicas |` table."""
    rows = ["| steady load | replicas |", "|---|---|"]
    rows += [f"| {load:,} {unit} | {replicas_for(load, sustained):,} |" for load in loads]
    return rows
