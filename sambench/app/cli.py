"""The ``sambench`` command line.

    sambench run TASK --model NAME [--checkpoint PATH] --dataset NAME --root DIR [...] --out DIR [--resume]
    sambench demo [--out DIR]
    sambench report RUN... [--baseline RUN] [--out DIR] [--html]
    sambench compare RUN_A RUN_B [RUN...] [--baseline RUN] --out DIR [--resamples N] [--html]
    sambench list models|datasets|tasks
    sambench datasets list|verify ...
    sambench edges-eval --pred DIR --root DIR

Every task declares its own options (``Task.add_arguments``) and report (``Task.report``) through
the task registry. Known user errors end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from sambench.registry import UnknownNameError


def _parse_kv(items: Optional[List[str]]) -> Dict[str, object]:
    out: Dict[str, object] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--model-arg '{item}': expected KEY=VALUE")
        k, v = item.split("=", 1)
        for cast in (int, float):
            try:
                v = cast(v)
                break
            except ValueError:
                continue
        out[k] = v
    return out


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", required=True, help="registered name (sambench list models) or path/to/file.py:build")
    g.add_argument("--checkpoint", help="checkpoint file (SHA-256 recorded; official names must match their hash)")
    g.add_argument("--download", action="store_true", help="fetch the official checkpoint (SHA-256 verified)")
    g.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="builder option, e.g. keep=0.5 for oracle")
    g.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
    g.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="compute precision (autocast; recorded in the run config). CPU: fp32 or bf16")


def add_dataset_arguments(p: argparse.ArgumentParser, multiple: bool = True) -> None:
    g = p.add_argument_group("data")
    action = "append" if multiple else "store"
    g.add_argument("--dataset", action=action, required=True,
                   help="registered name (sambench list datasets)" + ("; repeat with --root for several" if multiple else ""))
    g.add_argument("--root", action=action, help="dataset folder (its layout: sambench datasets list / docs/datasets.md)")
    g.add_argument("--ann", action=action, help="annotation file, for adapters that take one (e.g. coco)")
    g.add_argument("--split", help="split, where the adapter has several")
    g.add_argument("--manifest", action=action, help="a manifest.json to evaluate exactly its masks")
    g.add_argument("--cache-dir", help="Arrow cache for fast reloading (default ~/.cache/sambench/arrow); 'none' disables")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--out", required=True, help="run folder to write")
    g.add_argument("--resume", action="store_true", help="complete an interrupted run in --out")
    g.add_argument("--seed", type=int, default=0, help="seed of sampling and random prompts (default 0)")
    g.add_argument("--images-per-batch", type=int, default=1, help="images per encoder call")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument("--embedding-cache", help="folder caching image embeddings across runs and tasks "
                                             "(keyed by model fingerprint and image content)")
    s = p.add_argument_group("speed (recorded in config.json; --compile and --sdpa change float rounding)")
    s.add_argument("--compile", action="store_true", help="torch.compile the image encoder")
    s.add_argument("--sdpa", action="store_true", help="fused attention kernels (scaled_dot_product_attention)")
    s.add_argument("--loader-workers", type=int, default=2, help="threads decoding images ahead (default 2)")


def build_datasets(args, subsample: bool = True, keep_empty: bool = False) -> list:
    """DatasetRun per --dataset (paired in order with --root/--ann/--manifest)."""
    from sambench.datasets import build_dataset
    from sambench.datasets.manifest import build_manifest, load_manifest
    from sambench.app.runner import DatasetRun

    names = args.dataset if isinstance(args.dataset, list) else [args.dataset]

    def pick(values, i):
        if values is None:
            return None
        values = values if isinstance(values, list) else [values]
        if len(values) not in (len(names),) and not (len(values) == 1 and len(names) == 1):
            raise ValueError(f"give one value per --dataset ({len(names)}), got {len(values)}")
        return values[i]

    runs = []
    for i, name in enumerate(names):
        adapter = build_dataset(name, pick(args.root, i), ann=pick(args.ann, i), split=args.split)
        adapter = maybe_cached(adapter, getattr(args, "cache_dir", None))
        mpath = pick(getattr(args, "manifest", None), i)
        if mpath:
            manifest = load_manifest(mpath)
            if manifest.dataset != adapter.name:
                raise ValueError(f"{mpath}: manifest is for '{manifest.dataset}', not '{adapter.name}'")
        else:
            manifest = build_manifest(adapter, seed=args.seed, keep_empty=keep_empty,
                                      **({} if subsample else {"max_masks": None}))
        runs.append(DatasetRun(adapter, manifest))
    return runs


def maybe_cached(adapter, cache_dir):
    """Wrap ``adapter`` in the Arrow cache unless disabled (or not available for it)."""
    if cache_dir == "none" or adapter.name == "demo":
        return adapter
    try:
        from sambench.datasets.arrow_cache import open_cached
    except ImportError:
        return adapter
    return open_cached(adapter, cache_dir)


def build_model_from_args(args):
    from sambench.models import build_model

    model = build_model(args.model, checkpoint=args.checkpoint, device=args.device, download=args.download,
                        dtype=getattr(args, "dtype", "fp32"), **_parse_kv(args.model_arg))
    if hasattr(args, "clip"):  # text tasks: a detector or CLIP composed around the mask model
        from sambench.models.text_routes import compose_text_route

        model = compose_text_route(model, args.detector, args.detector_checkpoint, _parse_kv(args.detector_arg),
                                   args.detections, args.clip, args.clip_checkpoint, _parse_kv(args.clip_arg),
                                   device=args.device)
    return model


def add_text_route_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("text route (--model composed with a detector or CLIP; see README 'Text-to-mask')")
    g.add_argument("--detector", help="open-vocabulary detector whose boxes prompt --model: grounding-dino, "
                                      "mm-grounding-dino, owlv2")
    g.add_argument("--detector-checkpoint", metavar="DIR", help="the detector's save_pretrained folder")
    g.add_argument("--detector-arg", action="append", metavar="KEY=VALUE", help="detector option (max_batch=N)")
    g.add_argument("--detections", metavar="FILE", help="precomputed detections prompting --model: COCO results "
                                                        "json with a 'phrase' or 'category_id' per box")
    g.add_argument("--clip", metavar="NAME", help="open_clip model ranking --model's automatic masks "
                                                  "(e.g. ViT-B-32 with --clip-checkpoint, or local-dir:PATH)")
    g.add_argument("--clip-checkpoint", metavar="FILE", help="open_clip weights for a built-in --clip name")
    g.add_argument("--clip-arg", action="append", metavar="KEY=VALUE",
                   help="CLIP-route option: points_per_side, crop=masked|box, context, threshold, ...")


def cmd_run(args) -> int:
    from sambench.tasks import TASKS
    from sambench.app.runner import run_task

    task = TASKS.get(args.task).from_args(args)
    if task.needs_annotation_file:
        from sambench.datasets import DATASETS

        for name in args.dataset if isinstance(args.dataset, list) else [args.dataset]:
            if not hasattr(DATASETS.get(name), "annotation_file"):
                raise ValueError(f"dataset '{name}' has no annotation file; the {task.name} task scores "
                                 f"with COCO/LVIS evaluators (use coco, coco2017 or lvis)")
    datasets = build_datasets(args, subsample=task.subsample, keep_empty=not task.needs_instances)
    model = build_model_from_args(args)
    from sambench.app.speed import apply_speed_options

    apply_speed_options(model, compile=args.compile, sdpa=args.sdpa, images_per_batch=args.images_per_batch)
    summary = run_task(task, model, datasets, Path(args.out), seed=args.seed, resume=args.resume,
                       images_per_batch=args.images_per_batch, progress=not args.no_progress,
                       embedding_cache=Path(args.embedding_cache) if args.embedding_cache else None,
                       loader_workers=args.loader_workers)
    if summary is not None:
        print(f"run folder: {args.out}  (summary.json, report.md, tables/, plots/)")
        print(task.headline(summary))
    return 0


def cmd_report(args) -> int:
    from sambench.app.report import write_report

    out = Path(args.out or (Path(args.runs[0]).parent / "report"))
    path = write_report([Path(r) for r in args.runs], out, baseline=Path(args.baseline) if args.baseline else None,
                        html=getattr(args, "html", False), gallery=getattr(args, "gallery", 4))
    print(f"report: {path}" + (f"\nhtml report: {out / 'index.html'}" if getattr(args, "html", False) else ""))
    return 0


def cmd_compare(args) -> int:
    from sambench.app.compare import run_compare

    path = run_compare([Path(r) for r in args.runs], Path(args.out), baseline=Path(args.baseline) if args.baseline else None,
                       n_resamples=args.resamples, n_permutations=args.permutations, seed=args.seed,
                       ci_method=args.ci, test=args.test, html=args.html, gallery=args.gallery,
                       evaluator=args.evaluator)
    print(f"comparison: {path}" + (f"\nhtml report: {Path(args.out) / 'index.html'}" if args.html else ""))
    return 0


def cmd_list(args) -> int:
    from sambench.datasets import DATASETS
    from sambench.tasks import TASKS
    from sambench.models import MODELS

    if args.kind == "models":  # a table: family, size, source, weights, capabilities
        from sambench.models.catalog import format_model_table, model_rows

        print(format_model_table(model_rows()))
        return 0
    registry = {"models": MODELS, "datasets": DATASETS, "tasks": TASKS}[args.kind]
    desc = registry.describe()
    width = max(len(n) for n in desc) if desc else 0
    for name, text in desc.items():
        print(f"{name:<{width}}  {text}")
    return 0


def cmd_datasets(args) -> int:
    from sambench.app.datasets_cli import format_dataset_table, format_verify_report, list_datasets, verify_dataset

    if args.action == "list":
        print(format_dataset_table(list_datasets(args.search or [])))
        return 0
    if not args.name:
        raise ValueError("sambench datasets verify NAME --root DIR: NAME is missing")
    report = verify_dataset(args.name, args.root, ann=args.ann, split=args.split, seed=args.seed)
    print(format_verify_report(report))
    return 0


def cmd_demo(args) -> int:
    from sambench.app.demo import run_demo

    run_demo(Path(args.out), progress=not args.no_progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from sambench.tasks import TASKS

    parser = argparse.ArgumentParser(prog="sambench", description="Zero-shot evaluation of promptable segmentation models "
                                     "(SAM and family), following the Segment Anything paper's protocols.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help="run a task (sambench list tasks)")
    run_sub = p_run.add_subparsers(dest="task", required=True)
    for name in TASKS.names():
        task_cls = TASKS.get(name)
        tp = run_sub.add_parser(name, help=TASKS.describe()[name], description=(task_cls.__doc__ or "").strip(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        add_model_arguments(tp)
        add_dataset_arguments(tp, multiple=getattr(task_cls, "multi_dataset", True))
        add_run_arguments(tp)
        task_cls.add_arguments(tp.add_argument_group(f"{name} protocol"))
        if getattr(task_cls, "text_prompts", False):
            add_text_route_arguments(tp)
        tp.set_defaults(func=cmd_run)

    p_demo = sub.add_parser("demo", help="run the point task on the generated demo dataset with the classical baseline "
                                         "and sam-tiny, and write a comparison report")
    p_demo.add_argument("--out", default="results/demo", help="output folder (default results/demo)")
    p_demo.add_argument("--no-progress", action="store_true")
    p_demo.set_defaults(func=cmd_demo)

    p_rep = sub.add_parser("report", help="tables and plots from run folders")
    p_rep.add_argument("runs", nargs="+", help="run folders")
    p_rep.add_argument("--baseline", help="a run folder to compare the others against")
    p_rep.add_argument("--out", help="report folder (default: RUN/../report)")
    p_rep.add_argument("--html", action="store_true", help="also write an HTML report (OUT/index.html, opens from disk)")
    p_rep.add_argument("--gallery", type=int, default=4, help="HTML gallery: worst and best N per dataset (default 4)")
    p_rep.set_defaults(func=cmd_report)

    p_cmp = sub.add_parser("compare", help="paired deltas between runs with bootstrap intervals over images, paired "
                                           "tests and Holm correction; tables, plots, optional HTML")
    p_cmp.add_argument("runs", nargs="+", metavar="RUN", help="run folders of one task, protocol and manifests")
    p_cmp.add_argument("--baseline", help="the run every other run is compared with (default: the first RUN)")
    p_cmp.add_argument("--out", required=True, help="output folder")
    p_cmp.add_argument("--resamples", type=int, help="bootstrap resamples (default 2000; 200 for instances/proposals)")
    p_cmp.add_argument("--permutations", type=int, help="swap patterns of the paired permutation test (default: --resamples)")
    p_cmp.add_argument("--seed", type=int, default=0, help="seed of resampling and permutations (default 0)")
    p_cmp.add_argument("--ci", default="percentile", choices=["percentile", "BCa", "basic"], help="bootstrap interval method")
    p_cmp.add_argument("--test", default="permutation", choices=["permutation", "wilcoxon"],
                       help="paired test: A/B swapped per image (default) or Wilcoxon on per-image mean deltas")
    p_cmp.add_argument("--evaluator", default="faster-coco-eval", choices=["faster-coco-eval", "pycocotools"],
                       help="instances/proposals on COCO-format files: whose per-image results are resampled "
                            "(both reproduce the run's pycocotools numbers; LVIS files always use LVISEval)")
    p_cmp.add_argument("--html", action="store_true", help="also write an HTML report (OUT/index.html, opens from disk)")
    p_cmp.add_argument("--gallery", type=int, default=4, help="HTML gallery: worst and best N per dataset (default 4)")
    p_cmp.set_defaults(func=cmd_compare)

    p_ds = sub.add_parser("datasets", help="list datasets (paper counts, found locally?) or verify one against the paper")
    p_ds.add_argument("action", choices=["list", "verify"])
    p_ds.add_argument("name", nargs="?", help="dataset to verify")
    p_ds.add_argument("--root", help="dataset folder (verify)")
    p_ds.add_argument("--ann", help="annotation file, for adapters that take one")
    p_ds.add_argument("--split", help="split to verify")
    p_ds.add_argument("--seed", type=int, default=0, help="manifest seed (verify)")
    p_ds.add_argument("--search", action="append", metavar="DIR",
                      help="folders to look for local copies in (list; repeatable)")
    p_ds.set_defaults(func=cmd_datasets)

    p_list = sub.add_parser("list", help="registered models, datasets or tasks")
    p_list.add_argument("kind", choices=["models", "datasets", "tasks"])
    p_list.set_defaults(func=cmd_list)

    p_eval = sub.add_parser("edges-eval", help="score a folder of edge-map PNGs with the BSDS500 boundary benchmark")
    from sambench.app import edges_eval

    edges_eval.add_arguments(p_eval)
    p_eval.set_defaults(func=edges_eval.run_edges_eval)
    return parser


def user_errors() -> Tuple[type, ...]:
    from sambench.datasets.base import DatasetLayoutError
    from sambench.models.base import UnsupportedPromptError
    from sambench.models.sam import CheckpointError
    from sambench.models.extras import MissingExtraError
    from sambench.app.store import RunFolderError

    return (DatasetLayoutError, CheckpointError, UnknownNameError, RunFolderError, UnsupportedPromptError,
            MissingExtraError, FileNotFoundError, ValueError)


def main(argv: Optional[List[str]] = None) -> int:
    try:
        parser = build_parser()
    except Exception as exc:  # a broken plug-in must not hide the cause
        print(f"sambench: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except user_errors() as exc:
        if os.environ.get("SAMBENCH_DEBUG"):
            raise
        print(f"sambench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sambench: interrupted; finished images are saved, complete the run with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
