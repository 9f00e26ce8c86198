#!/usr/bin/env bash
# The fine-tuning variant on a GPU machine, in one call (issue 11's acceptance run).
#
# 1. Here, on a CPU machine with uv and network to PyPI:
#        benchmarks/gpu_run.sh pack
#    bakes the fine-tuning project and packs it, with the Python 3.12 packages the
#    GPU image lacks (../shared/gpu/pack-site.sh), into benchmarks/gpu-payload.tar.xz.
#    Untracked (never commit it): the device tool copies untracked files with the tree.
# 2. On the GPU machine (no uv, no network, Python 3.12 with torch/transformers/peft):
#        bash benchmarks/gpu_run.sh run        # writes everything under $OUT
#    builds a Qwen2.5-0.5B-shaped model (random weights, tokenizer with a chat template)
#    in a folder, then `train` on it with the default recipe (BASE_MODEL=<folder>, what
#    `make train` runs), serves the export and asks POST /generate once, then
#    `gpu-smoke` and benchmarks/training.py --device cuda, and last `train` under
#    accelerate launch with the FSDP configuration (accelerate applies FSDP only on
#    GPUs: it cannot run on a CPU machine). Each step is bounded and logged, so a
#    slow one leaves the others' results.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
payload="$here/gpu-payload.tar.xz"

pack() {
    set -e
    local work
    work=$(mktemp -d)
    trap "rm -rf '$work'" EXIT
    (cd "$repo" && uv run cookiecutter --no-input --output-dir "$work/bake" . \
        variant=fine-tuning init_git=no >/dev/null)
    mv "$work"/bake/* "$work/project"
    "$repo/../shared/gpu/pack-site.sh" "$work/site.tar.xz" httptools uvloop
    mkdir "$work/site" && tar -C "$work/site" -xJf "$work/site.tar.xz" && rm "$work/site.tar.xz"
    tar -C "$work" -cJf "$payload" project site
    echo "packed $(du -h "$payload" | cut -f1) into $payload"
}

step() {  # step NAME SECONDS COMMAND...: run, log to $OUT/NAME.log, never stop the script
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s)"
    local started=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name: rc=$rc in $((SECONDS - started)) s" | tee -a "$OUT/steps.txt"
    tail -n 25 "$OUT/$name.log"
}

run() {
    # DEVICE=cpu: a dry run of this script on a CPU machine, with a tiny Qwen2 shape.
    local device=${DEVICE:-cuda}
    OUT=${OUT:-/tmp/gpu-run-out}
    mkdir -p "$OUT"
    local work=/tmp/gpu-run
    rm -rf "$work" && mkdir -p "$work"
    tar -C "$work" -xJf "$payload"
    local project="$work/project"
    local package
    package=$(basename "$(ls -d "$project"/src/*/ | head -n 1)")
    # PYTHON=<an interpreter that has every package> (a dry run): the packed site,
    # built for the GPU image's Python 3.12, stays out of the path.
    local python=${PYTHON:-python3}
    if [ -n "${PYTHON:-}" ]; then
        export PYTHONPATH="$project/src"
    else
        export PYTHONPATH="$work/site:$project/src"
    fi
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
    export MLFLOW_TRACKING_URI="file://$work/mlruns" MLFLOW_ALLOW_FILE_STORE=true PROGRESS=false
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.txt" 2>&1
    "$python" -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__)" >>"$OUT/gpu.txt" 2>&1
    cat "$OUT/gpu.txt"
    cd "$project" || exit 1

    step build-base 120 "$python" - "$work/qwen05b" "$package" "$device" <<'EOF'
import importlib, sys
from pathlib import Path
target, package, device = sys.argv[1], sys.argv[2], sys.argv[3]
dataset = importlib.import_module(f"{package}.dataset")
modeling = importlib.import_module(f"{package}.modeling")
train = importlib.import_module(f"{package}.train")
splits = {"train": dataset.load_jsonl(Path("data") / "train.jsonl")}
tokenizer = modeling.train_tiny_tokenizer(train.tiny_corpus(splits), 4096)
tiny = modeling.TinyShape(architecture="qwen2", kv_heads=2)
shape = modeling.QWEN_05B if device == "cuda" else tiny
model = modeling.build_tiny_model(tokenizer, shape, seed=0)
model.save_pretrained(target)
tokenizer.save_pretrained(target)
print(model.config.model_type, sum(p.numel() for p in model.parameters()), "parameters")
EOF
    # The default recipe, as `BASE_MODEL=<folder> make train` runs it.
    step train-default 240 env BASE_MODEL="$work/qwen05b" "$python" -m "$package.cli" train
    cp results/metrics.json "$OUT/metrics-default.json" 2>/dev/null
    if [ -d models/adapter ]; then
        step serve 120 "$python" - "$package" <<'EOF'
import json, os, subprocess, sys, time, urllib.request
package = sys.argv[1]
server = subprocess.Popen([sys.executable, "-m", f"{package}.cli", "serve", "--port", "8123"])
try:
    url = "http://127.0.0.1:8123"
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    body = json.dumps({"prompt": "I was charged twice this month"}).encode()
    request = urllib.request.Request(f"{url}/generate", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        print(answer.status, answer.read().decode())
finally:
    server.terminate()
    server.wait(timeout=30)
EOF
    fi
    step gpu-smoke 120 "$python" -m "$package.cli" gpu-smoke --device "$device" --steps 30 \
        --output "$OUT/gpu_smoke.json"
    local shapes=qwen0.5b
    [ "$device" = cuda ] || shapes=tiny
    step benchmark 300 "$python" "$repo/benchmarks/training.py" --device "$device" \
        --shapes "$shapes" --project "$project" --python "$python" --steps 30
    # More epochs: enough example passes for the full token-budget batch in `train`.
    step train-epochs16 240 env BASE_MODEL="$work/qwen05b" EPOCHS=16 "$python" -m "$package.cli" train
    cp results/metrics.json "$OUT/metrics-epochs16.json" 2>/dev/null
    if [ "$device" = cuda ]; then
        # What `make train-distributed ACCELERATE_CONFIG=configs/accelerate_fsdp.yaml
        # NPROC=1` runs: one process (the project refuses FSDP over several until rank 0
        # gathers the adapter, ADR 0011), outputs beside the default run's.
        local fsdp=(BASE_MODEL="$work/qwen05b" QUANTIZATION=none ADAPTER_DIR=models/adapter-fsdp
            RESULTS_DIR=results-fsdp CHECKPOINT_DIR=checkpoints-fsdp)
        step train-fsdp 240 env "${fsdp[@]}" "$python" -m accelerate.commands.launch \
            --config_file configs/accelerate_fsdp.yaml --num_processes 1 \
            --main_process_port 29533 -m "$package.cli" train
        cp results-fsdp/metrics.json "$OUT/metrics-fsdp.json" 2>/dev/null
        # Data parallel over every GPU the machine has, when it has two or more.
        local gpus
        gpus=$(nvidia-smi -L 2>/dev/null | grep -c GPU)
        if [ "${gpus:-0}" -ge 2 ]; then
            step train-ddp 240 env BASE_MODEL="$work/qwen05b" RESULTS_DIR=results-ddp \
                ADAPTER_DIR=models/adapter-ddp CHECKPOINT_DIR=checkpoints-ddp \
                "$python" -m accelerate.commands.launch --config_file configs/accelerate.yaml \
                --num_processes "$gpus" --main_process_port 29534 -m "$package.cli" train
            cp results-ddp/metrics.json "$OUT/metrics-ddp.json" 2>/dev/null
        fi
    fi
    cat "$OUT/steps.txt"
}

case "${1:-}" in
    pack) pack ;;
    run) run ;;
    *) echo "usage: $0 pack (here, with uv) | run (on the GPU machine)" >&2; exit 2 ;;
esac
