"""Benchmarks of the dashboard (see docs/benchmarks.md); each module is a script with --help."""
