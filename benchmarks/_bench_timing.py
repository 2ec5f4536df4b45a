"""Timing helpers of the benchmark scripts: CPU and wall seconds of one call, the device synchronised
before and after on CUDA (so asynchronous kernels are counted where they run)."""

from __future__ import annotations

import time


def syncer(model):
    import torch

    return (lambda: torch.cuda.synchronize(model.device)) if model.device.type == "cuda" else (lambda: None)


def timed(fn, sync):
    sync()
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    sync()
    return out, time.perf_counter() - w, time.process_time() - c
