"""Benchmarks and analyses: comparisons of searches and predictors, transfer, latency, statistics."""
