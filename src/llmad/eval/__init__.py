"""Evaluation: metrics, thresholds, reports."""
