"""Small helpers shared by every stage: atomic writes, progress bars, summaries."""
