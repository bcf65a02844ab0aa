"""The peak FLOP/s MFU divides by: dense (no sparsity) tensor-core figures from the vendors'
datasheets for known GPUs, or a matmul peak measured here when the device is not in the table
(an unknown GPU, or the CPU)."""

from __future__ import annotations

import time
from dataclasses import dataclass

# TFLOP/s, dense: (substring of torch.cuda.get_device_name(), {precision: peak}); the first match
# wins, so a longer name comes before a shorter one it contains (A100 before A10, L40S before L4).
# fp32 is the plain (non-TF32) figure: vmae leaves TF32 off.
KNOWN_GPUS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H200", {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0}),
    ("H100 PCIe", {"bf16": 756.0, "fp16": 756.0, "fp32": 51.0}),
    ("H100", {"bf16": 989.0, "fp16": 989.0, "fp32": 67.0}),  # SXM
    ("A100", {"bf16": 312.0, "fp16": 312.0, "fp32": 19.5}),
    ("L40S", {"bf16": 362.0, "fp16": 362.0, "fp32": 91.6}),
    ("L4", {"bf16": 121.0, "fp16": 121.0, "fp32": 30.3}),
    ("A10", {"bf16": 125.0, "fp16": 125.0, "fp32": 31.2}),
    ("V100", {"fp16": 125.0, "fp32": 15.7}),
    ("T4", {"fp16": 65.0, "fp32": 8.1}),
)


@dataclass(frozen=True)
class Peak:
    flops: float  # FLOP/s
    source: str  # "datasheet: <name>" or "measured: <how>"


def datasheet_peak(device_name: str, precision: str) -> Peak | None:
    for name, peaks in KNOWN_GPUS:
        if name in device_name:
            return Peak(peaks[precision] * 1e12, f"datasheet: {name} {precision}") if precision in peaks else None
    return None


MEASURE_SECONDS = 0.25  # a measured peak keeps trying this long: one busy moment must not set it


def measured_peak(device: str, precision: str, size: int | None = None, repeats: int = 5) -> Peak:
    """The best of square matmuls of `size` (4096 on a GPU, 512 on the CPU) in the precision, at
    least `repeats` of them and as many more as fit in MEASURE_SECONDS: what this
    device does at its most favourable, the denominator when no datasheet figure is known. On a
    busy CPU five quick tries could all land in a busy moment (0.012 TFLOP/s measured against
    0.18, and MFU logged at 132%); more tries over a quarter second find a quiet one."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    n = size or (4096 if device.startswith("cuda") else 512)
    # its own generator: measuring at a run's start must not move the run's random stream
    draws = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=draws)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=draws)
    a @ b  # the first runs the kernel selection
    best, tries, began = float("inf"), 0, time.perf_counter()
    while tries < repeats or time.perf_counter() - began < MEASURE_SECONDS:
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best, tries = min(best, time.perf_counter() - start), tries + 1
    return Peak(2.0 * n**3 / best, f"measured: best of {tries} {n}x{n} {precision} matmuls")


def peak_for(device: str, device_name: str, precision: str) -> Peak:
    return datasheet_peak(device_name, precision) or measured_peak(device, precision)


def precision_warning(device: str, precision: str, peak: Peak) -> str:
    """'' unless this CPU runs the precision's matmuls far slower than fp32 (`peak` is its measured
    peak in that precision): a CPU without bf16 or fp16 instructions emulates them, 40x slower or
    worse, and a laptop trial in bf16 would crawl without saying why."""
    if precision == "fp32" or not device.startswith("cpu"):
        return ""
    return slow_precision_note(precision, peak.flops, measured_peak(device, "fp32").flops)


def slow_precision_note(precision: str, flops: float, fp32_flops: float) -> str:
    if flops * 2 >= fp32_flops:
        return ""
    return (f"--precision {precision} runs matmuls {fp32_flops / flops:,.0f}x slower than fp32 on this CPU (it has no "
            f"{precision} instructions): use --precision fp32 here")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
