"""Serving throughput: in-process vs over HTTP, one and two uvicorn workers.

Bakes the serving variant into a temporary folder, installs and trains it, then
measures, side by side in one run:
- in-process predictions/s for one account at a time, through the compiled
  scorer the API uses and through the plain scikit-learn pipeline (what a user
  would otherwise serve);
- the project's own load test over HTTP against `serve --workers 1` and `2`:
  closed loop (8 clients, the throughput it sustains) and open loop (a fixed
  request rate, latency counted from when each request was due), the latter
  with Prometheus metrics on and off (METRICS_ENABLED=false) to price them.

    uv run python benchmarks/serving.py [--requests 3000] [--rates 200,400]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from baking import bake

REPO = Path(__file__).resolve().parents[1]

IN_PROCESS = """
import json, time
import pandas as pd
from {package}.registry import load
from {package}.schema import FEATURES
served = load("models/champion")
import mlflow.sklearn
pipeline = mlflow.sklearn.load_model("models/champion")
row = pd.DataFrame([dict(tenure_months=3, monthly_charges=89.5, support_calls=4,
    contract="month-to-month", payment_method="electronic-check", has_internet=True)],
    columns=list(FEATURES))
def rate(model, seconds=3.0):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.predict_proba(row); n += 1
    return n / (time.perf_counter() - start)
print(json.dumps({{"compiled": rate(served.classifier), "pipeline": rate(pipeline)}}))
"""


def project_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", **extra})
    return env


def sh(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        list(args),
        cwd=cwd,
        env=project_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(port: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/ready", timeout=2
            ) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"the API on port {port} never became ready")


@dataclass(frozen=True)
class Load:
    requests: int
    batch: int = 1
    rate: float | None = None  # open loop at this many requests/s; None: 8 clients


def http_run(
    project: Path, slug: str, workers: int, load: Load, metrics: bool = True
) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        ["uv", "run", slug, "serve", "--port", str(port), "--workers", str(workers)],
        cwd=project,
        env=project_env(METRICS_ENABLED=str(metrics).lower()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(port)
        output = project / "results" / "bench.json"
        pace = ["--rate", str(load.rate)] if load.rate else ["--concurrency", "8"]
        sh(
            "uv",
            "run",
            slug,
            "load-test",
            "--url",
            f"http://127.0.0.1:{port}",
            "--requests",
            str(load.requests // load.batch),
            *pace,
            "--batch-size",
            str(load.batch),
            "--output",
            str(output),
            cwd=project,
        )
        result: dict[str, float] = json.loads(output.read_text())
        return result
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument(
        "--rates", default="200,400", help="Open-loop requests/s, comma-separated."
    )
    args = parser.parse_args()
    rates_s = [float(rate) for rate in args.rates.split(",") if rate]
    with tempfile.TemporaryDirectory() as scratch:
        project = bake("serving", scratch)
        slug, package = project.name, project.name.replace("-", "_")
        sh("make", "install", cwd=project)
        sh("make", "train", cwd=project)
        rates = json.loads(
            sh(
                "uv",
                "run",
                "python",
                "-c",
                IN_PROCESS.format(package=package),
                cwd=project,
            )
            .strip()
            .splitlines()[-1]
        )
        print(f"# Serving throughput ({os.cpu_count()} CPUs)\n")
        print("| path | predictions/s | ratio |")
        print("|---|---|---|")
        baseline = rates["pipeline"]
        print(
            f"| in-process, scikit-learn pipeline (baseline) | {baseline:,.0f} | 1.0 |"
        )
        print(
            f"| in-process, compiled scorer | {rates['compiled']:,.0f} | "
            f"{rates['compiled'] / rates['pipeline']:.1f} |"
        )
        print(
            "\n| HTTP, 8 clients | workers | req/s | predictions/s | p50 ms | p99 ms |"
        )
        print("|---|---|---|---|---|---|")
        for batch in (1, 100):
            for workers in (1, 2):
                r = http_run(project, slug, workers, Load(args.requests, batch))
                rps, pps = r["requests_per_second"], r["predictions_per_second"]
                print(
                    f"| {batch} per request | {workers} | {rps:,} | {pps:,} | "
                    f"{r['p50_ms']} | {r['p99_ms']} |"
                )
        print(
            "\n| open loop, 1 account per request | workers | /metrics | sent req/s "
            "| p50 ms | p95 ms | p99 ms | errors | p99 ratio, metrics on/off |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for rate in rates_s:
            for workers in (1, 2):
                by_metrics = {
                    metrics: http_run(
                        project, slug, workers, Load(args.requests, rate=rate), metrics
                    )
                    for metrics in (False, True)
                }
                on, off = by_metrics[True]["p99_ms"], by_metrics[False]["p99_ms"]
                ratio = on / max(off, 1e-9)
                for metrics, r in by_metrics.items():
                    shown = f"{ratio:.2f}" if metrics else "1.0"
                    print(
                        f"| {rate:g} req/s | {workers} | {'on' if metrics else 'off'} "
                        f"| {r['requests_per_second']:,} | {r['p50_ms']} "
                        f"| {r['p95_ms']} | {r['p99_ms']} | {r['errors']} | {shown} |"
                    )


if __name__ == "__main__":
    main()
