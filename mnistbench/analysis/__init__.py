"""Analysis of what a run stored: metrics from per-image outputs."""
