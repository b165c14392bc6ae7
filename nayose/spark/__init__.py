"""Block, score and cluster on Apache Spark with the same results as the DuckDB engine.

Optional (`pip install -e '.[spark]'`): nothing outside this package imports it unless
`engine: spark` is chosen. See docs/spark.md.
"""
