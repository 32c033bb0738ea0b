"""Evaluation harness: the benchmark's measurements, the expert baseline and reports."""
