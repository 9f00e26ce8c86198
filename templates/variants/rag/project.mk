# This project's own targets; the shared verbs are in Makefile, which includes this.
# What the image ships, and the target that makes it.
SHIPPED := index/manifest.json

.PHONY: ingest evaluate query serve benchmark load-test report artifacts

# CORPUS=<folder> names the data for every target below (ingest, evaluate, report,
# serve, query, benchmark), as CORPUS_PATH does in .env.
ifdef CORPUS
export CORPUS_PATH := $(CORPUS)
endif

ingest: ## Chunk and embed the corpus into index/ (atomic; CORPUS=<folder> for another)
	$(CLI) ingest

evaluate: ## Every chunking x retriever on the judgements: MLflow runs, results/ table and plot
	$(CLI) evaluate

query: ## Answer Q="<question>" from the index, with sources
	$(CLI) query "$(Q)"

serve: ## Serve POST /query on http://127.0.0.1:8000 (docs at /docs)
	$(CLI) serve

benchmark: ## Query p50/p95 and ingest chunks/s (SYNTHETIC=10000 chunks); results/benchmark.json
	$(CLI) benchmark $(if $(SYNTHETIC),--synthetic $(SYNTHETIC))

load-test: ## Closed-loop load on a running API's /query (REQUESTS=1000); writes results/load_test.json
	$(CLI) load-test $(if $(REQUESTS),--requests $(REQUESTS))

report: ## Rewrite the README results tables, prose and docs/ figures from results/
	$(CLI) report

artifacts: ingest ## Make what the image ships (index/manifest.json)
