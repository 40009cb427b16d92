"""The NAS-Bench-101 table: loading, exact queries, and a converter for the official release."""

from netembed.bench.table import Benchmark, Record, default_data_dir, load_table

__all__ = ["Benchmark", "Record", "default_data_dir", "load_table"]
