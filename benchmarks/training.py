"""Training speed and memory: the fine-tuning variant's pipeline vs a plain Trainer.

Bakes the fine-tuning variant into a temporary folder, installs it (CPU torch from
the local wheel folder, as the template's tests do), then, inside the project's
environment and on the CPU, trains the same Llama shape on the same bundled data
for the same number of optimizer steps four ways, each in a fresh process:

- project: the variant's own `train.fine_tune` (LoRA rank 16 on every linear
  layer, its collator with completion-only loss, gradient checkpointing, its
  per-epoch validation and step logging), and the same with
  GRADIENT_CHECKPOINTING=false, to show what checkpointing costs and saves;
- plain LoRA: the same LoRA adapter in a plain `transformers` Trainer with
  `DataCollatorForLanguageModeling` (loss on every token, prompt included), no
  gradient checkpointing, no evaluation: what a tutorial would write;
- full fine-tuning: the same plain Trainer without LoRA (every weight trained).

Every run sees the same token stream (the project's chat-template encoding of the
training split, same seed, same batches), so tokens/s compare time directly.
tokens/s counts non-padding tokens over the time spent inside optimizer steps
(forward, backward, update), measured by the same callback for all; "wall"
is the whole `train()` call, evaluation and logging included. Memory is the
process's peak resident set size (`ru_maxrss`, not tracemalloc, which does not
see torch's tensor allocations), and its growth from just before training.

    uv run python benchmarks/training.py [--steps 50] [--threads 1] [--shapes tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support import project_env, use_local_torch  # noqa: E402

CONFIGS = {
    "project": "project: LoRA, completion-only loss, grad. checkpointing",
    "project-no-ckpt": "project, GRADIENT_CHECKPOINTING=false",
    "plain-lora": "plain Trainer: same LoRA, full-sequence loss (baseline)",
    "full": "plain Trainer: full fine-tuning, full-sequence loss",
}
BASELINE = "plain-lora"

# Runs inside the baked project's environment; PACKAGE is replaced by its import name.
INNER = r"""
import json, os, resource, sys, tempfile, time
from pathlib import Path

import torch
import transformers
from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

from PACKAGE import dataset, modeling, sft, train
from PACKAGE.settings import Settings

config, shape_name = sys.argv[1], sys.argv[2]
steps, batch = int(sys.argv[3]), int(sys.argv[4])
SHAPES = {
    # What BASE_MODEL=tiny builds: the shape of the project's tests and quickstart.
    "tiny": modeling.TinyShape(),
    # A larger Llama of the same architecture, still quick on two cores.
    "small": modeling.TinyShape(
        hidden_size=256, layers=4, heads=4, intermediate_size=688, vocab_size=2048,
        init_range=0.02,
    ),
}
shape = SHAPES[shape_name]
splits = {s: dataset.load_jsonl(Path("data") / f"{s}.jsonl") for s in dataset.SPLITS}
torch.manual_seed(42)
tokenizer = modeling.train_tiny_tokenizer(train.tiny_corpus(splits), shape.vocab_size)
tokenizer.padding_side = "right"
base = modeling.build_tiny_model(tokenizer, shape, seed=42)
settings = Settings(
    base_model="tiny", max_steps=steps, batch_size=batch, learning_rate=1e-3,
    save_steps=10**9, progress=False, checkpoint_dir=Path(tempfile.mkdtemp()),
)
precision = modeling.choose_precision(
    "none", cuda=False, bf16_supported=False, bitsandbytes_installed=False
)


def lora(model):
    return modeling.add_lora(
        model, rank=settings.lora_rank, alpha=settings.lora_alpha,
        dropout=settings.lora_dropout, target_modules=settings.lora_target_modules,
        quantized=False,
    )


def rss_mib():
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


if config.startswith("project"):
    if config == "project-no-ckpt":
        settings = settings.model_copy(update={"gradient_checkpointing": False})
    model = lora(base)
    trainable, total = modeling.parameter_counts(model)
    before = rss_mib()
    started = time.perf_counter()
    fit = train.fine_tune(model, tokenizer, splits, settings, precision)
    wall = time.perf_counter() - started
    step_seconds, tokens, done = fit.step_seconds, fit.tokens, fit.global_step
else:
    model = lora(base) if config == "plain-lora" else base
    trainable, total = modeling.parameter_counts(model)
    rows = [
        {"input_ids": sft.encode(tokenizer, ex, settings.max_length).input_ids}
        for ex in splits["train"]
    ]
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), max_steps=steps,
        per_device_train_batch_size=batch,
        learning_rate=settings.learning_rate, lr_scheduler_type="linear",
        save_strategy="no", eval_strategy="no", report_to="none", use_cpu=True,
        seed=settings.seed, data_seed=settings.seed, disable_tqdm=True,
        dataloader_num_workers=0, include_num_input_tokens_seen="non_padding",
    )
    timer = train._step_timer()
    trainer = Trainer(
        model=model, args=args, train_dataset=rows,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        callbacks=[timer],
    )
    before = rss_mib()
    started = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - started
    step_seconds, tokens, done = timer.seconds, timer.tokens, trainer.state.global_step

peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({
    "config": config, "shape": shape_name, "steps": done, "tokens": tokens,
    "step_seconds": step_seconds, "wall_seconds": wall,
    "tokens_per_second": tokens / step_seconds,
    "peak_rss_mib": peak, "rss_before_mib": before,
    "trainable": trainable, "total": total,
    "hidden": shape.hidden_size, "layers": shape.layers,
    "threads": torch.get_num_threads(),
    "torch": torch.__version__, "transformers": transformers.__version__,
    "cuda_available": torch.cuda.is_available(),
}))
"""


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-6000:]
        sys.exit(f"{' '.join(args)} failed in {cwd}:\n{output}")
    return result.stdout


Result = dict[str, float | int | str | bool]


def measure(project: Path, env: dict[str, str], run_args: list[str]) -> Result:
    """One training run in a fresh process of the project's environment."""
    flags = env.get("UV_FLAGS", "").split()
    script = str(project / "bench_training_inner.py")
    out = run(["uv", "run", *flags, "python", script, *run_args], project, env)
    result: Result = json.loads(out.strip().splitlines()[-1])
    return result


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="optimizer steps per run")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (OMP_NUM_THREADS); 1 is fastest for these shapes",
    )
    parser.add_argument("--shapes", default="tiny,small", help="tiny, small or both")
    args = parser.parse_args()
    shapes = [shape for shape in args.shapes.split(",") if shape]
    if not shapes or not set(shapes) <= {"tiny", "small"}:
        parser.error(f"--shapes takes tiny, small or tiny,small; got {args.shapes!r}")
    started = time.perf_counter()
    load_before = load()
    with tempfile.TemporaryDirectory() as scratch:
        # The command line, not the API: the hook's "next steps" stay out of the table.
        cookiecutter = [sys.executable, "-m", "cookiecutter", "--no-input"]
        answers = ["variant=fine-tuning", "init_git=no"]
        run([*cookiecutter, "-o", scratch, str(REPO), *answers], REPO, project_env())
        (project,) = Path(scratch).iterdir()
        package = project.name.replace("-", "_")
        env = project_env(**use_local_torch(project))
        run(["make", "install"], project, env)
        (project / "bench_training_inner.py").write_text(
            INNER.replace("PACKAGE", package), encoding="utf-8"
        )
        env = {**env, "UV_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
        sizes = [str(args.steps), str(args.batch_size)]
        results = {
            (shape, config): measure(project, env, [config, shape, *sizes])
            for shape in shapes
            for config in CONFIGS
        }
    report(results, shapes, args, load_before)
    print(f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s.")


def report(
    results: dict[tuple[str, str], Result],
    shapes: list[str],
    args: argparse.Namespace,
    load_before: str,
) -> None:
    """The markdown table, ratios against the plain LoRA Trainer."""
    first = next(iter(results.values()))
    print(f"# Training speed and memory, fine-tuning variant ({os.cpu_count()} CPUs)\n")
    print(
        f"{args.steps} optimizer steps of {args.batch_size} examples of the bundled "
        f"data/train.jsonl, on the CPU; torch {first['torch']} with {first['threads']} "
        f"thread(s), transformers {first['transformers']}. Load average {load_before} "
        f"before, {load()} after: other work on the machine slows every figure.\n"
    )
    print(
        "| shape | pipeline | trainable / total params | tokens/s in steps | ratio "
        "| wall s | peak RSS MiB | growth MiB | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for shape in shapes:
        base = results[(shape, BASELINE)]
        base_rate = float(base["tokens_per_second"])
        base_growth = float(base["peak_rss_mib"]) - float(base["rss_before_mib"])
        for config, label in CONFIGS.items():
            r = results[(shape, config)]
            rate = float(r["tokens_per_second"])
            growth = float(r["peak_rss_mib"]) - float(r["rss_before_mib"])
            print(
                f"| {shape} (hidden {r['hidden']}, {r['layers']} layers) | {label} "
                f"| {int(r['trainable']):,} / {int(r['total']):,} "
                f"| {rate:,.0f} | {rate / base_rate:.2f} "
                f"| {float(r['wall_seconds']):.1f} | {float(r['peak_rss_mib']):,.0f} "
                f"| {growth:,.0f} | {growth / max(base_growth, 1e-9):.2f} |"
            )
    for shape in shapes:
        tokens = {int(results[(shape, c)]["tokens"]) for c in CONFIGS}
        same = "the same" if len(tokens) == 1 else f"NOT the same: {sorted(tokens)}"
        print(f"\n{shape}: non-padding tokens per run {same} ({min(tokens):,}).")
    print(
        "\nRatios are against the plain LoRA Trainer (1.00). tokens/s: non-padding "
        "tokens over the time inside optimizer steps; wall: the whole train() call "
        "(the project's includes its per-epoch validation and per-step logging). "
        "Memory: peak RSS of the process, and its growth from just before training."
    )
    seen = any(bool(r["cuda_available"]) for r in results.values())
    note = " (torch saw a CUDA device; every run here used the CPU)" if seen else ""
    print(
        f"\nGPU: nothing measured. No GPU machine was lent to this task{note}; "
        "on a GPU, `make gpu-smoke DEVICE=cuda` in a generated project gives tokens/s "
        "and peak CUDA memory for a ~0.2B-parameter Llama."
    )


if __name__ == "__main__":
    main()
