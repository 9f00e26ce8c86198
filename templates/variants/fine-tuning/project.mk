# This project's own targets; the shared verbs are in Makefile, which includes this.
# What the image ships, and the target that makes it.
SHIPPED := models/adapter

# The torch build, an extra of pyproject.toml: cpu (the PyTorch CPU index on Linux,
# ~200 MB) or cuda (PyPI's build, which bundles CUDA: several GB, for GPU training).
# Unset, a machine where nvidia-smi lists a GPU gets cuda and any other cpu.
ifndef TORCH
TORCH := $(if $(CI),cpu,$(if $(shell nvidia-smi -L 2>/dev/null | grep GPU),cuda,cpu))
TORCH_WHY := $(if $(CI),CI has no GPU,$(if $(filter cuda,$(TORCH)),nvidia-smi lists a GPU,nvidia-smi found no NVIDIA GPU))
else
TORCH_WHY := TORCH=$(TORCH) was asked for
endif
ifeq ($(filter cpu cuda,$(TORCH)),)
$(error TORCH must be cpu or cuda, not "$(TORCH)")
endif
# Flags for every uv call: the torch build, on every call (`uv run` would otherwise
# re-sync to the default and fetch the other build).
UV_FLAGS ?= --extra $(TORCH)
INSTALL_NOTE = @echo "torch: the $(TORCH) build ($(TORCH_WHY)); TORCH=cpu or TORCH=cuda make install chooses"

DEVICE ?= auto
STEPS ?= 10
# train-distributed: processes (one per GPU; on a CPU, gloo between processes), the
# accelerate configuration (configs/accelerate_fsdp.yaml shards the model: GPUs only)
# and the port the processes meet on.
NPROC ?= 2
ACCELERATE_CONFIG ?= configs/accelerate.yaml
MASTER_PORT ?= 29500

.PHONY: data train train-distributed evaluate serve load-test gpu-smoke report artifacts

data: ## Regenerate the bundled train/validation/test JSONL (seeded)
	$(CLI) data

train: ## Base eval, LoRA fine-tune, tuned eval, merge check; MLflow run; exports models/adapter
	$(CLI) train

train-distributed: ## make train under accelerate launch with NPROC processes (BATCH_SIZE each)
	$(RUN) accelerate launch --config_file $(ACCELERATE_CONFIG) --num_processes $(NPROC) \
		--main_process_port $(MASTER_PORT) -m {{ cookiecutter.package_name }}.cli train

evaluate: ## Base vs fine-tuned with intervals, and the failure cases, of the last run
	$(CLI) evaluate

serve: ## Serve POST /generate (base + adapter) on http://127.0.0.1:8000 (docs at /docs)
	$(CLI) serve

load-test: ## Closed-loop load on a running API's /generate (REQUESTS=100); writes results/load_test.json
	$(CLI) load-test $(if $(REQUESTS),--requests $(REQUESTS))

gpu-smoke: ## STEPS of make train's LoRA path (Qwen2.5-0.5B shape on a GPU): tokens/s, peak memory
	$(CLI) gpu-smoke --device $(DEVICE) --steps $(STEPS)

report: ## Rewrite the README results tables and docs/ figures from results/
	$(CLI) report

# CI has neither the hub nor a GPU: there the image ships an adapter on the tiny
# model, trained with the README's recipe for it (one thread: its matrices are too
# small to share out, and two threads ran 8 times slower on a busy 2-core runner).
TINY_RECIPE := BASE_MODEL=tiny LEARNING_RATE=1e-2 EPOCHS=4 BATCH_SIZE=16 OMP_NUM_THREADS=1

artifacts: ## Train what the image ships (models/adapter; in CI on the tiny model)
	$(if $(CI),$(TINY_RECIPE)) $(CLI) train
	@test -e $(SHIPPED) || { echo "no $(SHIPPED): the run missed the export thresholds" >&2; exit 1; }
