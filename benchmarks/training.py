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

With `--device cuda` (a GPU machine) the shape is `qwen0.5b` (Qwen2.5-0.5B's
dimensions, random weights, bf16) and the runs are: the project's recipe at a fixed
batch and a plain LoRA Trainer at that batch, then the project's own choice of batch
(token budget) and the plain Trainer at that same batch; peak CUDA memory and an MFU
estimate are added. On a GPU machine without uv or cookiecutter, bake and pack on a
CPU machine and pass `--project <baked folder> --python python3` (benchmarks/gpu_run.sh
does both).

Every run sees the same token stream (the project's chat-template encoding of the
training split, same seed, same batches), so tokens/s compare time directly.
tokens/s counts non-padding tokens over the time spent inside optimizer steps
(forward, backward, update), measured by the same callback for all; "wall"
is the whole `train()` call, evaluation and logging included. Memory is the
process's peak resident set size (`ru_maxrss`, not tracemalloc, which does not
see torch's tensor allocations), and its growth from just before training.

    uv run python benchmarks/training.py [--steps 50] [--threads 1] [--shapes tiny]
    python3 benchmarks/training.py --device cuda --project <baked> --python python3
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
    "project": "project: its recipe (LoRA, completion-only loss, auto checkpointing)",
    "project-ckpt": "project, GRADIENT_CHECKPOINTING=true",
    "plain-lora": "plain Trainer: same LoRA, full-sequence loss (baseline)",
    "full": "plain Trainer: full fine-tuning, full-sequence loss",
}
BASELINE = "plain-lora"
# On a GPU: the same batch for both, then the project's chosen batch for both.
GPU_CONFIGS = {
    "project": "project recipe, BATCH_SIZE fixed",
    "plain-lora": "plain Trainer, same LoRA, same batch",
    "project-auto": "project recipe, its own batch (token budget)",
    "plain-lora-auto": "plain Trainer, same LoRA, the project's batch",
}
# Dense bf16 peak of the GPU, for the MFU estimate (vendor figures, no sparsity).
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12}

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
steps, batch, device = int(sys.argv[3]), sys.argv[4], sys.argv[5]
batch = batch if batch == "auto" else int(batch)
SHAPES = {
    # What BASE_MODEL=tiny builds: the shape of the project's tests and quickstart.
    "tiny": modeling.TinyShape(),
    # A larger Llama of the same architecture, still quick on two cores.
    "small": modeling.TinyShape(
        hidden_size=256, layers=4, heads=4, intermediate_size=688, vocab_size=2048,
        init_range=0.02,
    ),
    # Qwen2.5-0.5B-Instruct's dimensions, the default base: for a GPU.
    "qwen0.5b": modeling.QWEN_05B,
}
shape = SHAPES[shape_name]
cuda = device == "cuda"
splits = {s: dataset.load_jsonl(Path("data") / f"{s}.jsonl") for s in dataset.SPLITS}
torch.manual_seed(42)
tokenizer = modeling.train_tiny_tokenizer(
    train.tiny_corpus(splits), min(shape.vocab_size, 4096)
)
tokenizer.padding_side = "right"
base = modeling.place(modeling.build_tiny_model(tokenizer, shape, seed=42), device)
if cuda:
    base = base.bfloat16()
settings = Settings(
    base_model="tiny", max_steps=steps, batch_size=batch,
    learning_rate=1e-3, save_steps=10**9, progress=False,
    checkpoint_dir=Path(tempfile.mkdtemp()),
    gradient_checkpointing=True if config == "project-ckpt" else "auto",
)
precision = modeling.Precision(device, bf16=cuda, quantize_4bit=False)


def lora(model):
    return modeling.add_lora(
        model, rank=settings.lora_rank, alpha=settings.lora_alpha,
        dropout=settings.lora_dropout, target_modules=settings.lora_target_modules,
        quantized=False,
    )


def rss_mib():
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


if cuda:
    torch.cuda.reset_peak_memory_stats()
if config.startswith("project"):
    model = lora(base)
    trainable, total = modeling.parameter_counts(model)
    before = rss_mib()
    started = time.perf_counter()
    fit = train.fine_tune(model, tokenizer, splits, settings, precision)
    wall = time.perf_counter() - started
    step_seconds, tokens, done = fit.step_seconds, fit.tokens, fit.global_step
    used_batch, recipe = fit.recipe.batch_size, fit.recipe.describe(device)
    checkpointing = fit.recipe.gradient_checkpointing
else:
    model = lora(base) if config.startswith("plain-lora") else base
    trainable, total = modeling.parameter_counts(model)
    rows = [
        {"input_ids": sft.encode(tokenizer, ex, settings.max_length).input_ids}
        for ex in splits["train"]
    ]
    used_batch = 8 if batch == "auto" else batch
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), max_steps=steps,
        per_device_train_batch_size=used_batch,
        learning_rate=1e-3, lr_scheduler_type="linear",
        save_strategy="no", eval_strategy="no", report_to="none", use_cpu=not cuda,
        bf16=cuda, seed=settings.seed, data_seed=settings.seed, disable_tqdm=True,
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
    recipe, checkpointing = "plain Trainer defaults", False

peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
config_obj = base.config
# Matmul parameters: a tied embedding is the output projection (its lookup costs no
# FLOPs); an untied input embedding is only a lookup.
embedding = config_obj.vocab_size * config_obj.hidden_size
matmul_params = total - trainable - (0 if shape.tie_embeddings else embedding)
print(json.dumps({
    "config": config, "shape": shape_name, "steps": done, "tokens": tokens,
    "batch": used_batch, "recipe": recipe, "checkpointing": checkpointing,
    "step_seconds": step_seconds, "wall_seconds": wall,
    "tokens_per_second": tokens / step_seconds,
    "peak_rss_mib": peak, "rss_before_mib": before,
    "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    "device_name": torch.cuda.get_device_name() if cuda else "cpu",
    "matmul_params": matmul_params, "full_finetune": config == "full",
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


def measure(
    project: Path, env: dict[str, str], run_args: list[str], python: str | None = None
) -> Result:
    """One training run in a fresh process of the project's environment."""
    flags = env.get("UV_FLAGS", "").split()
    script = str(project / "bench_training_inner.py")
    command = [python] if python else ["uv", "run", *flags, "python"]
    out = run([*command, script, *run_args], project, env)
    result: Result = json.loads(out.strip().splitlines()[-1])
    return result


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


SHAPES = ("tiny", "small", "qwen0.5b")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="optimizer steps per run")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="16 on CPU, 8 on GPU"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (OMP_NUM_THREADS); 1 is fastest for these shapes",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--shapes",
        default=None,
        help="comma-separated: tiny,small (CPU) or qwen0.5b (GPU)",
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="an already baked project (no bake/install)",
    )
    parser.add_argument(
        "--python", default=None, help="with --project: run it with this Python, not uv"
    )
    args = parser.parse_args()
    cuda = args.device == "cuda"
    args.batch_size = args.batch_size or (8 if cuda else 16)
    shapes = [
        s
        for s in (args.shapes or ("qwen0.5b" if cuda else "tiny,small")).split(",")
        if s
    ]
    if not shapes or not set(shapes) <= set(SHAPES):
        parser.error(
            f"--shapes takes a list of {', '.join(SHAPES)}; got {args.shapes!r}"
        )
    started = time.perf_counter()
    load_before = load()
    with tempfile.TemporaryDirectory() as scratch:
        if args.project:
            project, env = args.project.resolve(), dict(os.environ)
        else:
            project, env = bake_and_install(Path(scratch))
        # The import name, whatever the folder is called (gpu_run.sh renames it).
        package = next(p.parent.name for p in (project / "src").glob("*/__init__.py"))
        (project / "bench_training_inner.py").write_text(
            INNER.replace("PACKAGE", package), encoding="utf-8"
        )
        env = {**env, "UV_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
        results: dict[tuple[str, str], Result] = {}
        for shape in shapes:
            fixed = [str(args.steps), str(args.batch_size), args.device]
            if not cuda:
                for config in CONFIGS:
                    results[shape, config] = measure(
                        project, env, [config, shape, *fixed], args.python
                    )
                continue
            for config in ("project", "plain-lora"):
                results[shape, config] = measure(
                    project, env, [config, shape, *fixed], args.python
                )
            auto = [str(args.steps), "auto", args.device]
            chosen = measure(project, env, ["project-auto", shape, *auto], args.python)
            results[shape, "project-auto"] = chosen
            same = [str(args.steps), str(chosen["batch"]), args.device]
            results[shape, "plain-lora-auto"] = measure(
                project, env, ["plain-lora-auto", shape, *same], args.python
            )
    if cuda:
        report_gpu(results, shapes, args)
    else:
        report(results, shapes, args, load_before)
    print(f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s.")


def bake_and_install(scratch: Path) -> tuple[Path, dict[str, str]]:
    """Bake the fine-tuning variant; `make install` it on the local CPU torch."""
    # The command line, not the API: the hook's "next steps" stay out of the table.
    cookiecutter = [sys.executable, "-m", "cookiecutter", "--no-input"]
    answers = ["variant=fine-tuning", "init_git=no"]
    run([*cookiecutter, "-o", str(scratch), str(REPO), *answers], REPO, project_env())
    (project,) = scratch.iterdir()
    env = project_env(**use_local_torch(project))
    run(["make", "install"], project, env)
    return project, env


def mfu(result: Result) -> float | None:
    """Model FLOPs utilisation: 2 FLOPs per matmul parameter and token forward, 2 more
    backward for the activations' gradient, 2 more for the weights' gradient only when
    they train (full fine-tuning); recomputation and attention scores not counted."""
    name = str(result.get("device_name", ""))
    peak = next((flops for gpu, flops in PEAK_BF16_FLOPS.items() if gpu in name), None)
    if peak is None:
        return None
    per_token = (6 if result["full_finetune"] else 4) * int(result["matmul_params"])
    return per_token * float(result["tokens_per_second"]) / peak


def report_gpu(
    results: dict[tuple[str, str], Result], shapes: list[str], args: argparse.Namespace
) -> None:
    """GPU table: tokens/s, peak CUDA memory, MFU; ratios against the plain Trainer at
    the same batch."""
    first = next(iter(results.values()))
    print(f"# Training speed on {first['device_name']}, fine-tuning variant\n")
    print(
        f"{args.steps} optimizer steps per run on the bundled data/train.jsonl, bf16, "
        f"torch {first['torch']}, transformers {first['transformers']}; "
        "random weights.\n"
    )
    print(
        "| shape | pipeline | batch | checkpointing | tokens/s in steps "
        "| vs plain, same batch | peak CUDA MiB | MFU |"
    )
    print("|---|---|---|---|---|---|---|---|")
    pairs = {
        "project": "plain-lora",
        "plain-lora": "plain-lora",
        "project-auto": "plain-lora-auto",
        "plain-lora-auto": "plain-lora-auto",
    }
    for shape in shapes:
        for config, label in GPU_CONFIGS.items():
            r = results[(shape, config)]
            rate = float(r["tokens_per_second"])
            baseline = float(results[(shape, pairs[config])]["tokens_per_second"])
            util = mfu(r)
            checkpointing = "on" if r["checkpointing"] else "off"
            memory = float(r["peak_cuda_mib"] or 0)
            shown = "n/a" if util is None else f"{100 * util:.1f}%"
            print(
                f"| {shape} | {label} | {r['batch']} | {checkpointing} | {rate:,.0f} "
                f"| {rate / baseline:.2f} | {memory:,.0f} | {shown} |"
            )
        auto = results[(shape, "project-auto")]
        print(f"\n{shape}: {auto['recipe']}")
    print(
        "\nMFU counts 4 FLOPs per frozen matmul parameter and token (forward and the "
        "activations' gradient); the peak is the GPU's dense bf16 figure."
    )


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
        f"\nGPU: not measured in this run{note}; on a GPU machine run "
        "`benchmarks/gpu_run.sh` (or this script with --device cuda) for the "
        "qwen0.5b shape."
    )


if __name__ == "__main__":
    main()
