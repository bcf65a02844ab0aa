"""Measuring a step: its model FLOPs (flops.py: plain arithmetic, no torch) and the device's peak
FLOP/s (peaks.py). A leaf: it imports nothing else of the trainer, so that models, objectives'
options and stages may use it (the benchmark command, trainer/bench/, is built on top of them)."""
