"""peaknet-bench: dataset, benchmark and reference pipeline for Bragg peak finding."""

__version__ = "0.1.0"
