"""Scoring against gold (strict micro-F1), results files, speed benchmarks and the report over them."""
