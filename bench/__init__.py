"""Benchmarks for sharebuy: `make bench` (or `python -m bench.run --help`)."""
