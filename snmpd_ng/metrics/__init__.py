"""Polled values and polling health as Prometheus metrics (naming rule: docs/metrics.md)."""
