"""Inference: segmentation to peaks and the Ray producer/consumer pipeline."""
