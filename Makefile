# Developer tasks for the template itself; generated projects have their own Makefile.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
RUN := uv run
OUT ?= /tmp/ml-portfolio-bake
VARIANT ?= serving

.PHONY: help install lint test bake bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-8s\033[0m %s\n", $$1, $$2}'

install: ## Create .venv with the template's tooling
	uv sync

lint: ## ruff, ruff format and mypy --strict over hooks, filters and tests
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

test: ## The whole test suite, in parallel (bakes, gates, hostile answers)
	$(RUN) pytest -n auto

bake: ## Generate VARIANT into OUT without prompts, replacing an earlier bake
	rm -rf "$(OUT)"
	$(RUN) cookiecutter --no-input --output-dir "$(OUT)" . variant=$(VARIANT)
	@echo "baked into $(OUT)"

BENCHMARKS := generation serving hostile retrieval rag_quality rag_pgvector training distributed images time_to_green

bench: ## Every benchmark (figures and ratios, no asserts); writes benchmarks/results.md
	@for name in $(BENCHMARKS); do $(RUN) python benchmarks/$$name.py || exit 1; echo; done \
		| tee benchmarks/results.md

clean: ## Remove caches
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
