# The toy's own targets; the shared verbs are in Makefile, which includes this.
SHIPPED := greetings

.PHONY: hello serve

hello: ## Print the greeting
	$(CLI) hello

serve: ## The toy serves nothing
	@echo nothing to serve
