"""Benchmarks for selvsync against the emulator: `python -m benchmarks [--quick]`.

See docs/performance.md for the scenarios, the method and the measured numbers.
"""
