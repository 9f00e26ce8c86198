"""The toy has no fixtures of its own."""
