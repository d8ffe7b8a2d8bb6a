"""Benchmarks of hyperct: one module per benchmark, run as `python -m benchmarks.<name>`.

Each writes `benchmarks/results/<name>.json` through :func:`benchmarks.record.save_result`;
`python -m benchmarks` gathers them into the table of `benchmarks/README.md`.
"""
