"""Speed of a run: the settings that decide it, the glibc allocator tuning, timing files, progress rate.

Nothing here changes a number: the settings are recorded in ``config.json["speed"]`` and in each
session's timing report (``records/timing-rank<R>.jsonl``, aggregated into ``summary.json``).

The allocator (glibc only): by default glibc serves every allocation above a dynamic threshold
(at most 32 MiB) with a fresh ``mmap`` and returns it to the system on ``free``, and trims the
heap's free top, so each of the many large, short-lived tensors of a CPU forward pass (attention
maps, upsampled logits) is paid for again in page faults. ``tune_allocator`` keeps freed memory
in the heap for reuse instead: ``mallopt(M_MMAP_MAX, 0)`` (no mmap'd chunks),
``mallopt(M_TRIM_THRESHOLD, 2 GiB)`` and ``mallopt(M_TOP_PAD, 2 GiB)`` (trim only beyond 2 GiB of
free top, and keep 2 GiB when trimming; mallopt takes a C int, so 2 GiB is its largest value).
Starting Python with ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647
MALLOC_TOP_PAD_=2147483647`` does the same. It trades a higher resident set (the peak working set
stays mapped) for far fewer page faults; measured effect in README ("Speed"). ``run_task``
applies it to CPU runs unless the user set any ``MALLOC_*`` variable above or ``SAMBENCH_MALLOC=default``,
and not under an address-space limit (``ulimit -v``, ``RLIMIT_AS``): the 2 GiB top pad is address
space reserved on every heap extension (measured: a small run's peak virtual size 7.2 instead of
5.2 GB), so under such a cap it could exhaust the limit, and a later ``mmap`` (loading a shared
library) fail.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import platform
import sys
import time
from pathlib import Path

from sambench.timing import StageTimer

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2 ** 31 - 1  # mallopt takes a C int: the largest value it accepts (2 GiB)
ENV_VARS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")
_STATE = {"allocator": "default"}


def tune_allocator() -> str:
    """Keep freed memory in this process's heap (see module docstring); returns what is in effect.

    Returns:
      "tuned" (applied now or earlier), "environment" (the user's own MALLOC_* settings are kept),
      "default" (SAMBENCH_MALLOC=default), "address-space limit" (RLIMIT_AS is set: glibc's defaults
      kept), or "unavailable" (not glibc).
    """
    if _STATE["allocator"] == "tuned":
        return "tuned"
    if os.environ.get("SAMBENCH_MALLOC", "").lower() == "default":
        _STATE["allocator"] = "default"
        return "default"
    if any(k in os.environ for k in ENV_VARS):
        _STATE["allocator"] = "environment"
        return "environment"
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        _STATE["allocator"] = "unavailable"
        return "unavailable"
    import resource  # Unix only: after the platform check

    if resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY:
        _STATE["allocator"] = "address-space limit"
        return _STATE["allocator"]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = all(libc.mallopt(param, value) == 1 for param, value in
                 ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TRIM_THRESHOLD)))
    except (OSError, AttributeError):
        ok = False
    _STATE["allocator"] = "tuned" if ok else "unavailable"
    return _STATE["allocator"]


def allocator_settings() -> dict:
    """The allocator in effect, for the run config."""
    env = {k: os.environ[k] for k in ENV_VARS + ("MALLOC_ARENA_MAX",) if k in os.environ}
    out = {"mode": _STATE["allocator"]}
    if _STATE["allocator"] == "tuned":
        out.update(mmap_max=0, trim_threshold=TRIM_THRESHOLD, top_pad=TRIM_THRESHOLD)
    if env:
        out["environment"] = env
    return out


def apply_speed_options(model, compile: bool = False, sdpa: bool = False, images_per_batch: int = 1) -> None:
    """Turn on a model's speed knobs (``configure_speed``; SAM: ``sambench.models.sam_accel``).

    Raises:
      ValueError (one line) when --compile or --sdpa is asked of a model without such knobs.
    """
    hook = getattr(model, "configure_speed", None)
    if hook is None:
        if compile or sdpa:
            raise ValueError(f"model '{model.name}' has no --compile/--sdpa knobs (SAM models have)")
        return
    hook(compile=compile, sdpa=sdpa, encoder_batch_size=images_per_batch if images_per_batch > 1 else None)


def speed_settings(task, model, images_per_batch: int, loader_workers: int) -> dict:
    """What decides a run's speed (never its numbers): device name, dtype, batch sizes, knobs.

    The model adds its own (dtype, compiled encoder, attention kernel, encoder batch size, pinned
    memory) through an optional ``speed_settings()`` method.
    """
    device = str(getattr(model, "device", "cpu"))
    settings = {"device": device, "device_name": device, "dtype": getattr(model, "dtype", "fp32"),
                "images_per_batch": int(images_per_batch), "loader_workers": int(loader_workers),
                "decoder_max_batch": getattr(task, "max_batch", None)}
    if getattr(task, "click_threads", None):
        settings["click_threads"] = int(task.click_threads)
    torch = sys.modules.get("torch")  # never import torch for a model that does not use it
    if torch is not None and device.startswith("cuda") and torch.cuda.is_available():
        settings["device_name"] = torch.cuda.get_device_name(torch.device(device))
    elif device == "cpu":
        settings["device_name"] = f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
        if torch is not None:
            settings["torch_threads"] = torch.get_num_threads()
    hook = getattr(model, "speed_settings", None)
    if callable(hook):
        settings.update(hook())
    settings["allocator"] = allocator_settings()
    return settings


def accelerator_sync(model):
    """The device's synchronize when the model runs on CUDA (so stage times are not just launch times)."""
    torch = sys.modules.get("torch")
    device = str(getattr(model, "device", "cpu"))
    if torch is not None and device.startswith("cuda") and torch.cuda.is_available():
        return lambda: torch.cuda.synchronize(torch.device(device))
    return None


def show_rate(bar, timer: StageTimer) -> None:
    """Images/s (and prompts/s) of the run so far on a tqdm bar."""
    wall, _ = timer.elapsed()
    if wall > 0 and not bar.disable:
        c = timer.counters
        text = f"{c.get('images', 0) / wall:.3g} img/s"
        if c.get("prompts"):
            text += f", {c['prompts'] / wall:.3g} prompts/s"
        bar.set_postfix_str(text, refresh=False)


def write_timing(out: Path, rank: int, report: dict) -> None:
    """Append this session's timing report to RUN/records/timing-rank<R>.jsonl (one line per session)."""
    path = Path(out) / "records" / f"timing-rank{rank}.jsonl"
    with open(path, "a") as f:
        f.write(json.dumps(report) + "\n")


def timed_call(fn):
    """``fn`` returning ``(result, (wall, thread CPU seconds))``: the cost of a call made in a worker thread."""

    def call(*args, **kwargs):
        t0, c0 = time.perf_counter(), time.thread_time()
        result = fn(*args, **kwargs)
        return result, (time.perf_counter() - t0, time.thread_time() - c0)

    return call


def timed_loads(results, timer: StageTimer, stage: str = "read"):
    """Yield the results of ``timed_call`` calls (from a prefetching iterator): the main loop's wait
    for each is timed as ``stage`` (0 when the loaders keep up), the loaders' own work is recorded
    as background ``read_decode_threads``."""
    it = iter(results)
    while True:
        with timer.stage(stage):
            item = next(it, _DONE)
        if item is _DONE:
            return
        result, (wall, cpu) = item
        timer.add_background("read_decode_threads", wall, cpu)
        yield result


_DONE = object()
