"""Benchmarks: each writes JSON results to bench/results/ and its section of BENCHMARKS.md."""
