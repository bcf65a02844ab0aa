"""`vmae bench`: throughput on the hardware at hand (flops.py counts the model's FLOPs for MFU)."""
