"""nayose (名寄せ): find and merge duplicate Salesforce / Pardot records.

The engine is pure Python (no Dagster import). Stages pass tables to each other through a
DuckDB connection: records -> normalize -> block -> score -> cluster.
"""

__version__ = "0.1.0"
