# This project's own targets; the shared verbs are in Makefile, which includes this.
# What the image ships, and the target that makes it.
SHIPPED := models/champion

.PHONY: data train evaluate serve drift load-test report artifacts

data: ## Regenerate the bundled synthetic dataset
	$(CLI) data

train: ## Train, evaluate against the baseline, log to MLflow, promote if thresholds pass
	$(CLI) train

evaluate: ## Score the champion on the held-out split, with confidence intervals
	$(CLI) evaluate

serve: ## Serve the champion on http://127.0.0.1:8000 (docs at /docs)
	$(CLI) serve

drift: ## Drift report (PSI/KS) of INPUT=<csv> against the training reference
	$(CLI) drift $(INPUT)

load-test: ## Load-test a running API (RATE=<req/s>: open loop); writes results/load_test*.json
	$(CLI) load-test $(if $(RATE),--rate $(RATE) --output results/load_test_rate$(RATE).json)

report: ## Rewrite the README results tables and docs/figures/ from results/
	$(CLI) report

artifacts: train ## Make what the image ships (models/champion)
