"""Hostile load on each generated API: abusive bodies beside legitimate traffic, and
a burst above capacity.

For each variant it bakes the project, installs it, makes what its image ships
(`make artifacts`, CI's tiny recipe for fine-tuning), serves it with `make serve`
and measures, side by side in one run:
- legitimate requests sent open loop (at a fixed rate, latency counted from when
  each was due) alone, then again while an attacker sends the most expensive
  invalid bodies (5 per second): share answered 200, p50 and p99, and the ratio;
- a burst of simultaneous requests well above MAX_CONCURRENT_REQUESTS: how many
  are refused with 503 and how fast the refusals come back.

    uv run python benchmarks/hostile.py [--variants serving,rag,fine-tuning]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from baking import bake

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import (
    CHURNING_ACCOUNT,
    install_with_local_torch,
    make,
    poll,
    running_api,
)

ACCOUNT = CHURNING_ACCOUNT
REPO = Path(__file__).resolve().parents[1]
QUESTIONS = (
    (REPO / "templates/variants/rag/data/handbook/queries.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
)
# Many unknown fields: every one is an error to report (about 400 KB).
UNKNOWN_FIELDS = {f"field_{i}": i for i in range(30_000)}


@dataclass(frozen=True)
class Target:
    variant: str
    endpoint: str
    good: tuple[object, ...]  # legitimate bodies, sent in turn
    abusive: tuple[object, ...]
    legit_rate: float  # requests/s the API serves comfortably on 2 cores
    heavy: object  # the costliest valid request, for the burst


TARGETS = {
    "serving": Target(
        "serving",
        "/predict",
        (ACCOUNT,),
        ({"instances": [{}] * 1000}, UNKNOWN_FIELDS),
        50,
        {"instances": [ACCOUNT] * 1000},
    ),
    "rag": Target(
        "rag",
        "/query",
        # Every question of the handbook in turn: one repeated question would be
        # served from the dense retriever's last-vector cache.
        tuple({"question": json.loads(line)["text"]} for line in QUESTIONS),
        ({"question": "x" * 1_000_000}, UNKNOWN_FIELDS),
        10,
        {"question": "How do I rotate an API key without downtime?", "top_k": 20},
    ),
    "fine-tuning": Target(
        "fine-tuning",
        "/generate",
        ({"prompt": "Why did my bill go up this month?"},),
        ({"prompt": "\U0001f600" * 250_000}, UNKNOWN_FIELDS),
        10,
        {"prompt": "Why did my bill go up this month?"},
    ),
}


def post(url: str, body: bytes, timeout: float = 10) -> int:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # refused, reset or timed out


def open_loop(
    send: Callable[[], int], rate: float, seconds: float, stop: threading.Event
) -> list[tuple[int, float]]:
    """Send at `rate`/s for `seconds`; each latency is counted from when it was due."""
    answers: list[tuple[int, float]] = []
    lock = threading.Lock()

    def one(due: float) -> None:
        status = send()
        with lock:
            answers.append((status, time.perf_counter() - due))

    with ThreadPoolExecutor(64) as pool:
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            due = start + i / rate
            while (wait := due - time.perf_counter()) > 0 and not stop.is_set():
                time.sleep(min(wait, 0.05))
            if stop.is_set():
                break
            pool.submit(one, due)
    return answers


def summary(answers: list[tuple[int, float]]) -> dict[str, float]:
    latencies = sorted(seconds * 1000 for _, seconds in answers) or [0.0]
    last = len(latencies) - 1
    return {
        "sent": len(answers),
        "ok": sum(status == 200 for status, _ in answers) / max(len(answers), 1),
        "p50_ms": latencies[last // 2],
        "p99_ms": latencies[last * 99 // 100],
    }


def under_abuse(
    base: str, target: Target, seconds: float, attack_rate: float
) -> dict[str, float]:
    url = f"{base}{target.endpoint}"
    good = [json.dumps(body).encode() for body in target.good]
    turn = itertools.count()
    bad = [json.dumps(body).encode() for body in target.abusive]
    stop = threading.Event()
    sent = 0

    def attack() -> int:
        nonlocal sent
        sent += 1
        return post(url, bad[sent % len(bad)])

    attacker = threading.Thread(
        target=open_loop, args=(attack, attack_rate, seconds, stop)
    )
    attacker.start()
    try:
        legit = open_loop(
            lambda: post(url, good[next(turn) % len(good)]),
            target.legit_rate,
            seconds,
            stop,
        )
    finally:
        stop.set()
        attacker.join()
    return summary(legit)


def burst(base: str, target: Target, clients: int) -> dict[str, float]:
    """`clients` requests at once: the share refused with 503 and their latency.

    One asyncio client over raw sockets: every connection is open before the
    burst, and the clock stops at the status line. (A thread per client, as
    urllib needs, spent more time in the client's own scheduling than the server
    took to refuse, on 2 shared cores.)
    """
    host, port = base.removeprefix("http://").rsplit(":", 1)
    body = json.dumps(target.heavy).encode()
    request = (
        f"POST {target.endpoint} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body

    async def one(go: asyncio.Event) -> tuple[int, float]:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            return 0, 0.0
        await go.wait()
        started = time.perf_counter()
        try:
            writer.write(request)
            line = await asyncio.wait_for(reader.readline(), 60)
        except (OSError, TimeoutError):
            line = b""
        elapsed = time.perf_counter() - started
        writer.close()
        parts = line.split()
        return (int(parts[1]) if len(parts) > 1 else 0), elapsed

    async def all_at_once() -> list[tuple[int, float]]:
        go = asyncio.Event()
        pending = [asyncio.create_task(one(go)) for _ in range(clients)]
        await asyncio.sleep(0.5)  # every connection is open
        go.set()
        return await asyncio.gather(*pending)

    answers = asyncio.run(all_at_once())
    refused = sorted(seconds * 1000 for status, seconds in answers if status == 503)
    served = sorted(seconds * 1000 for status, seconds in answers if status == 200)
    last = max(len(refused) - 1, 0)
    return {
        "served": len(served),
        "served_p99_ms": served[(len(served) - 1) * 99 // 100] if served else 0.0,
        "refused": len(refused),
        "other": len(answers) - len(served) - len(refused),
        "refusal_p50_ms": refused[last // 2] if refused else 0.0,
        "refusal_p99_ms": refused[last * 99 // 100] if refused else 0.0,
    }


def wait_ready(base: str) -> None:
    ready = poll(f"{base}/ready", lambda status, _: status == 200, 180)
    if ready[0] != 200:
        sys.exit(f"{base} never became ready: {ready}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="serving,rag,fine-tuning")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument(
        "--limit", type=int, default=4, help="MAX_CONCURRENT_REQUESTS for the burst."
    )
    args = parser.parse_args()
    print("# Hostile load: abusive bodies beside legitimate traffic, and bursts\n")
    print(
        "| variant | legit req/s | attack | ok | p50 ms | p99 ms | p99 ratio, "
        "attacked/quiet |"
    )
    print("|---|---|---|---|---|---|---|")
    bursts = []
    for name in args.variants.split(","):
        target = TARGETS[name]
        with tempfile.TemporaryDirectory() as scratch:
            project = bake(name, scratch)
            torch_env = install_with_local_torch(project)
            if not torch_env:
                make(project, "install", offline=False)
            make(project, "artifacts", extra_env={**torch_env, "CI": "true"})
            with running_api(project, torch_env) as base:
                wait_ready(base)
                quiet = under_abuse(base, target, args.seconds, attack_rate=0)
                attacked = under_abuse(base, target, args.seconds, attack_rate=5)
            # Room for every connection of the burst: the app's own limit is what
            # is measured (MAX_CONNECTIONS counts idle connections, so below the
            # burst size uvicorn would refuse every request, the first ones too).
            limits = {
                "MAX_CONCURRENT_REQUESTS": str(args.limit),
                "MAX_CONNECTIONS": str(2 * args.burst),
            }
            with running_api(project, {**torch_env, **limits}) as base:
                wait_ready(base)
                bursts.append((name, burst(base, target, args.burst)))
        ratio = attacked["p99_ms"] / max(quiet["p99_ms"], 1e-9)
        for label, row, shown in (("none", quiet, 1.0), ("5/s", attacked, ratio)):
            print(
                f"| {name} | {target.legit_rate:g} | {label} | {row['ok']:.1%} "
                f"| {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {shown:.2f} |"
            )
    print(
        f"\n| variant | burst at MAX_CONCURRENT_REQUESTS={args.limit}, "
        f"MAX_CONNECTIONS={2 * args.burst} "
        "| served | served p99 ms | 503 | other | 503 p50 ms | 503 p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, row in bursts:
        print(
            f"| {name} | {args.burst} | {row['served']} | {row['served_p99_ms']:.0f} "
            f"| {row['refused']} "
            f"| {row['other']} | {row['refusal_p50_ms']:.1f} "
            f"| {row['refusal_p99_ms']:.1f} |"
        )


if __name__ == "__main__":
    main()
