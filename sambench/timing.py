"""Where a run's time goes: wall and CPU seconds per stage, throughput, peak memory.

A ``StageTimer`` accumulates *exclusive* time per named stage: entering a stage inside another
pauses the outer one, so stages never overlap and their sum is the time of the instrumented
code. The runner times reading, encoding and writing; a task carves its own stages (decoder,
prompt simulation, metric) out of the runner's ``task`` stage through ``Task.timer``.

What the numbers mean:

- ``wall_s``: ``time.perf_counter`` seconds. On an accelerator, call ``StageTimer(sync=...)`` with
  the device's synchronize so that queued kernels are charged to the stage that launched them.
- ``cpu_s``: CPU seconds of the whole process while the stage ran (``time.process_time``: every
  thread, torch's intra-op workers included). Work running concurrently in background threads
  (image decoding) is therefore partly charged to the stage that was running meanwhile; that
  background work is also reported on its own, under ``background`` (``add_background``: the
  loader threads' own wall and thread-CPU seconds), never as a stage.
- ``calls``: how many times the stage was entered.
- ``unstaged``: the wall and CPU seconds since the timer started that no stage covers.

Peak memory: the process's peak resident set size (``getrusage``; the lifetime peak, so it
includes anything allocated before the run) and, when torch's CUDA is initialised, the peak
allocated and reserved accelerator memory.

This module imports neither torch nor numpy.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional

STAGES = ("read", "encoder", "decoder", "prompts", "metric", "task", "write")
"""Stage names used by the runner and the built-in tasks, in report order: image read/decode,
image encoder, prompt decoding (prompt encoder + mask decoder + thresholding), prompt simulation,
metric, the rest of a task's work, writing records."""


class StageTimer:
    """Exclusive wall/CPU seconds per stage, plus counters (images, prompts, ...).

    Arguments:
      sync: called before every stage boundary is read (e.g. ``torch.cuda.synchronize``), or None.

    Use ``with timer.stage("decoder"): ...``; stages nest (the inner one pauses the outer).
    """

    enabled = True

    def __init__(self, sync: Optional[Callable[[], None]] = None):
        self.sync = sync
        self.totals: Dict[str, List[float]] = {}  # name -> [wall, cpu, calls]
        self.counters: Dict[str, int] = {}
        self.background: Dict[str, List[float]] = {}
        self._stack: List[str] = []
        self._last = (0.0, 0.0)
        self._start_wall = time.perf_counter()
        self._start_cpu = time.process_time()

    def _charge(self) -> None:
        now = (time.perf_counter(), time.process_time())
        if self._stack:
            entry = self.totals[self._stack[-1]]
            entry[0] += now[0] - self._last[0]
            entry[1] += now[1] - self._last[1]
        self._last = now

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name`` (exclusive of any stage entered inside it)."""
        if self.sync is not None:
            self.sync()
        self._charge()
        self.totals.setdefault(name, [0.0, 0.0, 0])[2] += 1
        self._stack.append(name)
        try:
            yield
        finally:
            if self.sync is not None:
                self.sync()
            self._charge()
            self._stack.pop()

    def add_background(self, name: str, wall: float, cpu: float, calls: int = 1) -> None:
        """Record work done concurrently elsewhere (e.g. image decoding in a loader thread)."""
        entry = self.background.setdefault(name, [0.0, 0.0, 0])
        entry[0] += wall
        entry[1] += cpu
        entry[2] += calls

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` (``images``, ``prompts``, ...)."""
        self.counters[name] = self.counters.get(name, 0) + int(n)

    def elapsed(self) -> tuple:
        """(wall, CPU) seconds since the timer was created."""
        return time.perf_counter() - self._start_wall, time.process_time() - self._start_cpu

    def report(self, extra: Optional[dict] = None) -> dict:
        """JSON-able summary: stages, totals, throughput, peak memory (see module docstring)."""
        wall, cpu = self.elapsed()
        order = [s for s in STAGES if s in self.totals] + sorted(set(self.totals) - set(STAGES))
        stages = {name: _entry(self.totals[name]) for name in order}
        staged_wall = sum(v[0] for v in self.totals.values())
        staged_cpu = sum(v[1] for v in self.totals.values())
        images = self.counters.get("images", 0)
        prompts = self.counters.get("prompts", 0)
        out = {"stages": stages, "wall_s": round(wall, 4), "cpu_s": round(cpu, 4),
               "unstaged": {"wall_s": round(max(0.0, wall - staged_wall), 4),
                            "cpu_s": round(max(0.0, cpu - staged_cpu), 4)},
               "background": {name: _entry(v) for name, v in self.background.items()},
               "counters": dict(self.counters),
               "images_per_s": images / wall if wall > 0 else None,
               "prompts_per_s": prompts / wall if wall > 0 else None}
        out.update(peak_memory())
        if extra:
            out.update(extra)
        return out


def _entry(v: List[float]) -> dict:
    return {"wall_s": round(v[0], 4), "cpu_s": round(v[1], 4), "calls": int(v[2])}


class NullTimer(StageTimer):
    """A timer that records nothing (the default of a task run outside the runner)."""

    enabled = False

    def __init__(self):
        super().__init__()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield

    def add_background(self, name: str, wall: float, cpu: float, calls: int = 1) -> None:
        pass

    def count(self, name: str, n: int = 1) -> None:
        pass


def peak_memory() -> dict:
    """Peak host RSS of this process (MiB) and, if torch has initialised CUDA, peak accelerator memory (MiB)."""
    out: dict = {"peak_rss_mib": None, "peak_accelerator_mib": None, "peak_accelerator_reserved_mib": None}
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_rss_mib"] = round(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, 1)
    except (ImportError, OSError):
        pass
    torch = sys.modules.get("torch")  # never import torch just to ask
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_accelerator_mib"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
        out["peak_accelerator_reserved_mib"] = round(torch.cuda.max_memory_reserved() / 2 ** 20, 1)
    return out


def current_rss_mib() -> Optional[float]:
    """Resident set size of this process now (MiB; Linux /proc), or None where unavailable."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            pages = int(f.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20, 1)
    except (OSError, ValueError, IndexError):
        return None


def format_timing(report: dict) -> str:
    """One line for the end of a run: throughput, the largest stages, peak memory, device; a resumed
    run's line says it covers this session's images only (``summary.json["timing"]`` has them all)."""
    wall = report.get("wall_s") or 0.0
    c = report.get("counters", {})
    parts = [f"{c.get('images', 0)} images in {wall:.1f} s wall, {report.get('cpu_s', 0.0):.1f} s CPU"]
    if report.get("images_per_s") is not None:
        parts.append(f"{report['images_per_s']:.3g} img/s")
    if c.get("prompts"):
        parts.append(f"{report['prompts_per_s']:.3g} prompts/s")
    stages = report.get("stages", {})
    shares = sorted(stages.items(), key=lambda kv: -kv[1]["wall_s"])
    if wall > 0 and shares:
        parts.append(", ".join(f"{name} {100 * v['wall_s'] / wall:.0f}%" for name, v in shares if v["wall_s"] > 0))
    if report.get("peak_rss_mib") is not None:
        parts.append(f"peak RSS {report['peak_rss_mib'] / 1024:.2f} GiB")
    if report.get("peak_accelerator_mib") is not None:
        parts.append(f"peak accelerator {report['peak_accelerator_mib'] / 1024:.2f} GiB")
    settings = report.get("settings", {})
    if settings:
        parts.append(" ".join(f"{k}={v}" for k, v in settings.items() if k in ("device_name", "dtype")))
    head = "timing (this session of a resumed run): " if report.get("resumed") else "timing: "
    return head + "; ".join(p for p in parts if p)


def merge_reports(reports: List[dict]) -> dict:
    """Aggregate the timing reports of several ranks or resumed sessions.

    Stage times, totals and counters are summed (ranks run concurrently, so a summed wall time is
    process-seconds, not elapsed time); peaks are maxima. Each report's own throughput stays in it.
    """
    if not reports:
        return {}
    stages: Dict[str, dict] = {}
    counters: Dict[str, int] = {}
    for r in reports:
        for name, v in r.get("stages", {}).items():
            s = stages.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0, "calls": 0})
            s["wall_s"] = round(s["wall_s"] + v["wall_s"], 4)
            s["cpu_s"] = round(s["cpu_s"] + v["cpu_s"], 4)
            s["calls"] += v["calls"]
        for k, v in r.get("counters", {}).items():
            counters[k] = counters.get(k, 0) + v

    def peak(key):
        vals = [r.get(key) for r in reports if r.get(key) is not None]
        return max(vals) if vals else None

    return {"stages": stages, "counters": counters,
            "wall_s": round(sum(r.get("wall_s", 0.0) for r in reports), 4),
            "cpu_s": round(sum(r.get("cpu_s", 0.0) for r in reports), 4),
            "peak_rss_mib": peak("peak_rss_mib"), "peak_accelerator_mib": peak("peak_accelerator_mib"),
            "n_reports": len(reports)}
