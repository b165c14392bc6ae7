"""Dagster code location for nayose: `pipelines.definitions` holds the Definitions, `pipelines.demo`
materializes everything once on the built-in sample org (what `make demo` runs)."""
