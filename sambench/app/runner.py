"""The loop every per-image task shares: manifest, sharding, resume, skips, records, summary.

``run_task`` drives a ``Task`` (``sambench.tasks.base``) over one or more datasets with one model:
it writes the run config, encodes each image once (``encode_batch`` over a few images at a time),
hands the task each sample with its embedding, appends the records image by image, and finally
derives ``summary.json`` and the report from the records alone. Under ``torchrun`` each process
takes every WORLD_SIZE-th image of the manifest and writes its own shard; rank 0 summarises after
a barrier. Results do not depend on the sharding: per-mask randomness is seeded by ids.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from tqdm import tqdm

from sambench import __version__
from sambench.data import BadSampleError, Sample
from sambench.models.base import PromptableModel, model_identity
from sambench.timing import StageTimer, format_timing
from sambench.app.store import RunFolder, RunFolderError, command_line, device_info, now_iso, package_versions
from sambench.app.summary import comparable_keys, summarize_run
from sambench.app.speed import (accelerator_sync, show_rate, speed_settings, timed_call, timed_loads, tune_allocator,
                                write_timing)


@dataclass
class DatasetRun:
    """One dataset of a run: its adapter and the manifest of masks to evaluate."""

    adapter: object
    manifest: object


def distributed_context() -> Tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def barrier(world: int) -> None:
    """Wait for every process of a torchrun job (gloo process group, created on first use)."""
    if world <= 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    dist.barrier()


def describe_dataset(d: DatasetRun) -> dict:
    """A dataset's entry in the run config: the adapter's description, its manifest and annotation file."""
    entry = dict(d.adapter.describe(), manifest_checksum=d.manifest.checksum(), n_images=d.manifest.n_images,
                 n_masks=d.manifest.n_masks, subsampled=d.manifest.subsampled, manifest_seed=d.manifest.seed)
    if getattr(d.manifest, "subset_of", None):  # a --limit-images / --image-ids subset: of what, and how
        entry["subset_of"] = d.manifest.subset_of
    hook = getattr(d.adapter, "annotation_file", None)
    if hook is not None:  # tasks scored by COCO/LVIS evaluators read it from here
        entry["annotation_file"] = str(Path(hook()).resolve())
    return entry


def build_config(task, model: PromptableModel, datasets: Sequence[DatasetRun], seed: int, world: int) -> dict:
    return {
        "task": task.name,
        "sambench_version": __version__,
        "created": now_iso(),
        "command": command_line(),
        "model": model_identity(model),
        "datasets": [describe_dataset(d) for d in datasets],
        "protocol": task.protocol(),
        "seed": seed,
        "versions": package_versions(),
        "device": device_info(getattr(model, "device", "cpu")),
        "world_size": world,
    }


def check_resumable(old: dict, new: dict, path: Path) -> None:
    from sambench.models import MODELS  # a run named with an older spelling (sam-vit_h) resumes as sam-vit-h

    same_name = MODELS.canonical(str(old.get("model", {}).get("name"))) == MODELS.canonical(str(new["model"].get("name")))
    if comparable_keys(old) != comparable_keys(new) or old.get("model", {}).get("checkpoint_sha256") != \
            new["model"].get("checkpoint_sha256") or not same_name \
            or old.get("seed") != new.get("seed") \
            or old.get("model", {}).get("dtype", "fp32") != new["model"].get("dtype", "fp32"):
        raise RunFolderError(f"{path}: cannot resume, the run there used another model, dtype, dataset, manifest, "
                             f"seed or protocol")
    pairs = [("the model's code", old.get("model", {}), new["model"])] + [
        (f"the code of dataset '{b.get('name')}'", a, b) for a, b in zip(old.get("datasets", []), new.get("datasets", []))]
    for what, then, now in pairs:  # user code (a model builder or dataset adapter file) edited since
        code_then, code_now = then.get("code") or {}, now.get("code") or {}
        if code_then.get("sha256") != code_now.get("sha256"):
            raise RunFolderError(f"{path}: cannot resume, {what} changed since the run started "
                                 f"({code_now.get('file') or code_then.get('file')}: SHA-256 "
                                 f"{str(code_then.get('sha256'))[:12]} then, {str(code_now.get('sha256'))[:12]} now)")


def validate_instances(sample: Sample, wanted: Sequence[str]) -> Tuple[list, List[dict]]:
    """The instances of ``wanted`` that can be evaluated, and a skip entry (id, reason) for each that
    cannot: an annotation the adapter could not make into a mask (its reason), one gone from the
    annotations, a mask of the wrong size, an empty mask."""
    by_id = {inst.id: inst for inst in sample.instances}
    defects = {d["instance_id"]: d["reason"] for d in sample.skipped_annotations()}
    good, skipped = [], []
    for inst_id in wanted:
        inst = by_id.get(inst_id)
        if inst is None and inst_id in defects:
            skipped.append({"instance_id": inst_id, "reason": defects[inst_id]})
        elif inst is None:
            skipped.append({"instance_id": inst_id, "reason": "not in the annotations any more"})
        elif list(inst.rle["size"]) != [sample.height, sample.width]:
            skipped.append({"instance_id": inst_id, "reason": f"mask size {inst.rle['size']} is not the image's "
                                                              f"{[sample.height, sample.width]}"})
        elif inst.area == 0:
            skipped.append({"instance_id": inst_id, "reason": "zero-area mask"})
        else:
            good.append(inst)
    return good, skipped


DEFAULT_MAX_SKIPPED = 0.5  # fraction of a dataset's images that may be skipped before a run fails


class EmptyEvaluationError(ValueError):
    """Every image of a dataset, or more than the allowed fraction, was skipped (nothing honest to report)."""


def check_skipped(name: str, n_total: int, skipped: Sequence[Tuple[str, str]], layout: str,
                  max_skipped: float = DEFAULT_MAX_SKIPPED) -> None:
    """Raise EmptyEvaluationError (one line) when all, or more than ``max_skipped``, of ``n_total`` images were skipped.

    Arguments:
      skipped: (image id, reason) of the skipped images, in manifest order; the first reason names its file.
      layout: what the dataset expects under --root (the adapter's ``layout``).
    """
    if n_total == 0:
        raise EmptyEvaluationError(f"{name}: no image with an evaluable mask; {name} expects under --root {layout}")
    if skipped and (len(skipped) == n_total or len(skipped) / n_total > max_skipped):
        image_id, reason = skipped[0]
        how_many = (f"all {n_total} images skipped" if len(skipped) == n_total else
                    f"{len(skipped)} of {n_total} images skipped (more than --max-skipped {max_skipped:g} allows)")
        raise EmptyEvaluationError(f"{name}: {how_many}; first: {reason if reason else image_id}; "
                                   f"{name} expects under --root {layout}")


def _check_manifests(datasets: Sequence[DatasetRun], max_skipped: float) -> None:
    for d in datasets:
        m = d.manifest
        check_skipped(d.adapter.name, m.n_images + len(m.skipped), list(m.skipped.items()),
                      getattr(d.adapter, "layout", ""), max_skipped)


def _check_done(datasets: Sequence[DatasetRun], folder: RunFolder, max_skipped: float) -> None:
    """After the run: images skipped while loading (unreadable, or no mask left to evaluate) per dataset."""
    done = folder.load_done()
    for d in datasets:
        name = d.adapter.name
        mine = {x["image_id"]: x for x in done if x.get("dataset") == name}
        skipped = [(i, x.get("reason") or (x.get("skipped_masks") or [{}])[0].get("reason", ""))
                   for i, x in mine.items() if x.get("status") == "skipped"
                   or (x.get("skipped_masks") and not x.get("n_records"))]
        check_skipped(name, d.manifest.n_images + len(d.manifest.skipped), skipped,
                      getattr(d.adapter, "layout", ""), max_skipped)


def run_task(task, model: PromptableModel, datasets: Sequence[DatasetRun], out: Path, seed: int = 0,
             resume: bool = False, images_per_batch: int = 1, progress: bool = True, report: bool = True,
             embedding_cache: Optional[Path] = None, max_skipped: float = DEFAULT_MAX_SKIPPED,
             loader_workers: int = 2) -> Optional[dict]:
    """Run ``task`` with ``model`` on ``datasets``, writing the run folder ``out``.

    Arguments:
      embedding_cache: a folder of cached image embeddings (models that declare ``cacheable``).
      max_skipped: fail (EmptyEvaluationError, before any model call when the manifest shows it, else
        after the run, with the summary written) when more than this fraction of a dataset's images,
        or all of them, are skipped.
      loader_workers: threads reading and decoding images ahead of the model.

    Where the time went (``sambench.timing``: stages read, encoder, task stages, write; images/s,
    prompts/s, peak memory) is appended to ``records/timing-rank<R>.jsonl``, summarised in
    ``summary.json["timing"]`` and printed as one line at the end.

    Returns:
      the summary (rank 0), or None on other ranks.
    """
    if not 0.0 <= float(max_skipped) <= 1.0:
        raise ValueError(f"--max-skipped {max_skipped}: expected a fraction between 0 and 1")
    _check_manifests(datasets, max_skipped)
    rank, world = distributed_context()
    folder = RunFolder(out, rank=rank)
    task.run_dir = Path(out)
    config = build_config(task, model, datasets, seed, world)
    if str(getattr(model, "device", "cpu")) == "cpu":
        tune_allocator()  # glibc: reuse freed memory instead of page-faulting it back (sambench.app.speed)
    settings = speed_settings(task, model, images_per_batch, loader_workers)
    config["speed"] = settings
    task.check_model(model)
    existed = folder.exists()
    barrier(world)  # every process has looked before rank 0 writes the config
    if existed:
        if not resume:
            raise RunFolderError(f"{out}: already a run folder; pass --resume to complete it or choose another --out")
        check_resumable(folder.read_config(), config, out)
    elif rank == 0:
        config["created"] = now_iso()
        folder.write_config(config)
        from sambench.datasets.manifest import save_manifest

        for d in datasets:
            save_manifest(d.manifest, Path(out) / f"manifest-{d.adapter.name}.json")
    barrier(world)
    finished = folder.prepare(task.all_columns, resume)

    todo = []
    for di, d in enumerate(datasets):
        for ii, (image_id, inst_ids) in enumerate(d.manifest.entries.items()):
            if ii % world == rank and (d.adapter.name, image_id) not in finished:
                todo.append((di, ii, image_id, inst_ids))
        if rank == 0 and d.manifest.skipped and not resume:
            for image_id, reason in d.manifest.skipped.items():
                n = getattr(d.manifest, "skipped_masks", {}).get(image_id, 0)
                folder.append_image(d.adapter.name, image_id, [], status="skipped", reason=reason,
                                    extra={"n_masks_skipped": n} if n else None)

    def load(item):
        di, ii, image_id, inst_ids = item
        try:
            sample = datasets[di].adapter.load_sample(image_id)
            return item, sample, sample.image(), None
        except BadSampleError as exc:
            return item, None, None, str(exc)

    encoder = model
    if embedding_cache is not None and getattr(model, "cacheable", False):
        from sambench.app.embedding_cache import EmbeddingCache

        encoder = EmbeddingCache(embedding_cache, model)
    timer = task.timer = StageTimer(sync=accelerator_sync(model))
    bar = tqdm(total=len(todo), desc=f"{task.name} [{model.label()}]", disable=not progress, unit="img")
    with ThreadPoolExecutor(max_workers=max(1, loader_workers)) as pool:  # image decoding overlaps the model
        batch: list = []
        ahead = max(2, 2 * images_per_batch, loader_workers)
        for entry in timed_loads(prefetch(pool, timed_call(load), todo, ahead=ahead), timer):
            batch.append(entry)
            if len(batch) >= images_per_batch:
                _process_batch(task, model, encoder, datasets, folder, batch, seed, timer)
                bar.update(len(batch))
                show_rate(bar, timer)
                batch = []
        if batch:
            _process_batch(task, model, encoder, datasets, folder, batch, seed, timer)
            bar.update(len(batch))
    bar.close()
    timing = timer.report(extra={"rank": rank, "settings": settings, "resumed": bool(existed)})
    write_timing(out, rank, timing)
    print(("" if world == 1 else f"[rank {rank}] ") + format_timing(timing), flush=True)

    barrier(world)
    if rank != 0:
        return None
    summary = summarize_run(task, out)
    if report:
        from sambench.app.report import write_report

        write_report([Path(out)], Path(out), force=True, allow_incomplete=True)  # the run's own report
    _check_done(datasets, folder, max_skipped)
    return summary


def prefetch(pool: ThreadPoolExecutor, fn, items, ahead: int):
    """``map(fn, items)`` in order, with at most ``ahead`` results loaded in advance (bounded memory)."""
    pending = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _process_batch(task, model, encoder, datasets, folder: RunFolder, batch, seed: int,
                   timer: Optional[StageTimer] = None) -> None:
    timer = timer or StageTimer()
    ready = []
    for (di, ii, image_id, inst_ids), sample, image, error in batch:
        name = datasets[di].adapter.name
        if error is not None:
            with timer.stage("write"):
                folder.append_image(name, image_id, [], status="skipped", reason=error,
                                    extra={"n_masks_skipped": len(inst_ids)})
            continue
        instances, skipped = validate_instances(sample, inst_ids)
        ready.append((di, ii, image_id, sample, image, instances, skipped))
    if not ready:
        return
    with timer.stage("encoder"):
        embeddings = encoder.encode_batch([r[4] for r in ready], [r[3] for r in ready])
    timer.count("images", len(ready))
    for (di, ii, image_id, sample, image, instances, skipped), emb in zip(ready, embeddings):
        name = datasets[di].adapter.name
        with timer.stage("task"):  # what the task does not time as its own stages
            rows = task.process(model, sample, emb, instances, seed=seed, dataset=name) \
                if instances or not task.needs_instances else []
        for row_index, r in enumerate(rows):
            r.update({"dataset": name, "dataset_index": di, "image_id": image_id, "image_index": ii,
                      "row_index": row_index})
        with timer.stage("write"):
            folder.append_image(name, image_id, rows, status="ok",
                                extra={"skipped_masks": skipped} if skipped else None)
