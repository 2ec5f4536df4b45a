"""The ``sambench`` command line.

    sambench run TASK --model NAME [--checkpoint PATH] --dataset NAME --root DIR [...] --out DIR [--resume]
                      [--limit-images N | --image-ids FILE] [--max-skipped X]
    torchrun --nproc_per_node N -m sambench run TASK ...      (several GPUs)
    sambench demo [--out DIR]
    sambench report RUN... [--baseline RUN] [--out DIR] [--force] [--allow-incomplete] [--html]
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
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from sambench.registry import UnknownNameError


# metavars in flag style (what to type), not Python parameter names
METAVARS = {"model": "NAME", "checkpoint": "PATH", "dataset": "NAME", "root": "DIR", "ann": "FILE", "split": "SPLIT",
            "manifest": "FILE", "cache_dir": "DIR", "out": "DIR", "device": "DEVICE", "baseline": "RUN",
            "image_ids": "FILE", "embedding_cache": "DIR", "search": "DIR", "pred": "DIR", "points": "LIST",
            "detections": "FILE", "dtype": "DTYPE"}
MULTI_GPU = ("several GPUs: torchrun --nproc_per_node N -m sambench run TASK ... (each process takes every N-th image "
             "and writes its own shard; rank 0 writes the summary; the numbers equal a one-process run's)")
RUN_EXAMPLES = {
    "point": "sambench run point --model sam-vit-h --checkpoint sam_vit_h_4b8939.pth --dataset coco2017 --root COCO "
             "--limit-images 50 --out results/vit-h-coco50",
    "edges": "sambench run edges --model sam-vit-h --checkpoint sam_vit_h_4b8939.pth --dataset bsds500 "
             "--root BSR/BSDS500 --out results/edges-vit-h",
    "proposals": "sambench run proposals --model sam-vit-h --checkpoint sam_vit_h_4b8939.pth --dataset lvis "
                 "--root LVIS --out results/proposals-vit-h",
    "instances": "sambench run instances --model sam-vit-h --checkpoint sam_vit_h_4b8939.pth --dataset coco2017 "
                 "--root COCO --detections vitdet_h_coco_val2017.json --out results/instances-vit-h",
}
EXAMPLES = {
    "main": ["sambench demo", RUN_EXAMPLES["point"], "sambench report results/vit-h-coco50 results/mine-coco50",
             "sambench list models"],
    "run": list(RUN_EXAMPLES.values()) + ["torchrun --nproc_per_node 4 -m sambench run point --model sam-vit-h "
                                          "--checkpoint sam_vit_h_4b8939.pth --dataset coco2017 --root COCO --out results/x"],
    "demo": ["sambench demo --out results/demo"],
    "report": ["sambench report results/vit-h-coco results/mine-coco --baseline results/vit-b-coco",
               "sambench report results/vit-h-coco --out results/report-vit-h --force",
               "sambench report results/killed-run --allow-incomplete"],
    "datasets": ["sambench datasets list --search ~/data", "sambench datasets verify grabcut --root data/GrabCut"],
    "compare": ["sambench compare results/vit-b-coco results/mine-coco --out results/cmp --html"],
    "list": ["sambench list models"],
    "edges-eval": ["sambench edges-eval --pred results/edges-vit-h --root BSR/BSDS500"],
}


def epilog(*commands: str, gpus: bool = False) -> str:
    lines = ["example" + ("s" if len(commands) > 1 else "") + ":"] + [f"  {c}" for c in commands]
    return "\n".join(lines + (["", MULTI_GPU] if gpus else []))


def user_description(obj) -> str:
    """A class docstring for --help: its text up to the developer sections (Arguments:, Attributes:, ...)."""
    import inspect

    keep = []
    for line in inspect.cleandoc(obj.__doc__ or "").splitlines():
        if line.strip().rstrip(":") in ("Arguments", "Attributes", "Returns", "Raises") and line.strip().endswith(":"):
            break
        keep.append(line)
    return "\n".join(keep).strip()


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Flag-style metavars: N for counts, X for numbers, FILE/DIR/NAME/... by option, never a Python name."""

    def _get_default_metavar_for_optional(self, action):
        if action.dest in METAVARS:
            return METAVARS[action.dest]
        if action.type is int:
            return "N"
        if action.type is float:
            return "X"
        last = action.dest.rsplit("_", 1)[-1]
        return {"file": "FILE", "json": "FILE", "path": "PATH", "dir": "DIR", "folder": "DIR", "root": "DIR",
                "name": "NAME", "model": "NAME", "detector": "NAME"}.get(last, "VALUE")

    def _get_default_metavar_for_positional(self, action):
        return METAVARS.get(action.dest, action.dest.upper().replace("_", "-"))


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
                   help="registered name (sambench list datasets) or path/to/file.py:NAME" + ("; repeat with --root for several" if multiple else ""))
    g.add_argument("--root", action=action, help="dataset folder (its layout: sambench datasets list / docs/datasets.md)")
    g.add_argument("--ann", action=action, help="annotation file, for adapters that take one (e.g. coco)")
    g.add_argument("--split", help="split, where the adapter has several")
    g.add_argument("--manifest", action=action, help="a manifest.json to evaluate exactly its masks")
    g.add_argument("--limit-images", type=int, help="a quick subset: N images drawn with --seed from the manifest "
                   "(recorded as a manifest of its own, with what it is a subset of)")
    g.add_argument("--image-ids", action=action, help="evaluate only these images (a text file, one image id per line)")
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
    g.add_argument("--max-skipped", type=float, default=0.5,
                   help="fail when more than this fraction of a dataset's images is skipped (unreadable, missing); "
                        "a dataset with every image skipped always fails (default 0.5)")
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
        manifest = maybe_subset(manifest, args, pick(getattr(args, "image_ids", None), i))
        runs.append(DatasetRun(adapter, manifest))
    return runs


def maybe_subset(manifest, args, image_ids_file: Optional[str]):
    """The --limit-images / --image-ids subset of ``manifest`` (itself a manifest recording ``subset_of``)."""
    from sambench.datasets.manifest import read_image_ids, subset_manifest

    limit = getattr(args, "limit_images", None)
    if image_ids_file and limit is not None:
        raise ValueError("give --limit-images or --image-ids, not both")
    if image_ids_file:
        return subset_manifest(manifest, image_ids=read_image_ids(image_ids_file), source=image_ids_file)
    if limit is not None:
        return subset_manifest(manifest, limit=limit, seed=args.seed)
    return manifest


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
                       max_skipped=args.max_skipped, loader_workers=args.loader_workers)
    if summary is not None:
        print(f"model: {model.label()}" + ("" if model.weights == "trained" else " -- not a trained checkpoint"))
        print(f"run folder: {args.out}  (summary.json, report.md, tables/, plots/)")
        for d in datasets:
            if d.manifest.describe_subset():
                print(f"{d.adapter.name}: {d.manifest.describe_subset()} -- not the full manifest")
        print(task.headline(summary))
    return 0


def cmd_report(args) -> int:
    from sambench.app.report import write_report

    from sambench.app.report import default_report_dir

    runs = [Path(r) for r in args.runs]
    baseline = Path(args.baseline) if args.baseline else None
    out = Path(args.out) if args.out else default_report_dir(runs, baseline)
    path = write_report(runs, out, baseline=baseline, html=getattr(args, "html", False), gallery=getattr(args, "gallery", 4),
                        force=args.force, allow_incomplete=args.allow_incomplete)
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
        older = ", ".join(f"{a} -> {n}" for a, n in sorted(MODELS.aliases().items()))
        if older:
            print(f"older spellings still accepted: {older}")
        return 0
    registry = {"models": MODELS, "datasets": DATASETS, "tasks": TASKS}[args.kind]
    desc = registry.describe()
    older = {}
    for alias, name in registry.aliases().items():
        older.setdefault(name, []).append(alias)
    width = max(len(n) for n in desc) if desc else 0
    for name, text in desc.items():
        also = f" (older spelling {', '.join(older[name])} still accepted)" if name in older else ""
        print(f"{name:<{width}}  {text}{also}")
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

    fmt = {"formatter_class": HelpFormatter}
    parser = argparse.ArgumentParser(prog="sambench", description="Zero-shot evaluation of promptable segmentation models "
                                     "(SAM and family), following the Segment Anything paper's protocols.",
                                     epilog=epilog(*EXAMPLES["main"], gpus=True), **fmt)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_run = sub.add_parser("run", help="run a task (sambench list tasks)", description="Run a task with one model "
                           "on one or more datasets, writing a run folder.", epilog=epilog(*EXAMPLES["run"], gpus=True), **fmt)
    run_sub = p_run.add_subparsers(dest="task", required=True, metavar="TASK")
    for name in TASKS.names():
        task_cls = TASKS.get(name)
        example = getattr(task_cls, "example", None) or RUN_EXAMPLES.get(name) or (
            f"sambench run {name} --model sam-vit-h --checkpoint sam_vit_h_4b8939.pth --dataset NAME --root DIR "
            f"--out results/{name}-vit-h")
        tp = run_sub.add_parser(name, help=TASKS.describe()[name], description=user_description(task_cls),
                                epilog=epilog(example, example.replace("sambench run", "torchrun --nproc_per_node 4 -m "
                                                                       "sambench run", 1), gpus=True), **fmt)
        add_model_arguments(tp)
        add_dataset_arguments(tp, multiple=getattr(task_cls, "multi_dataset", True))
        add_run_arguments(tp)
        task_cls.add_arguments(tp.add_argument_group(f"{name} protocol"))
        if getattr(task_cls, "text_prompts", False):
            add_text_route_arguments(tp)
        tp.set_defaults(func=cmd_run)

    p_demo = sub.add_parser("demo", help="run the point task on the generated demo dataset with the classical baseline "
                                         "and sam-tiny, and write a comparison report",
                            description="The point task end to end on a generated dataset, with the weight-free "
                                        "random-walker baseline and the untrained sam-tiny (plumbing only).",
                            epilog=epilog(*EXAMPLES["demo"]), **fmt)
    p_demo.add_argument("--out", default="results/demo", help="output folder (default results/demo)")
    p_demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    p_demo.set_defaults(func=cmd_demo)

    p_rep = sub.add_parser("report", help="tables and plots from run folders",
                           description="Tables (Markdown, CSV, LaTeX) and plots from run folders; several runs give "
                                       "side-by-side tables with deltas.", epilog=epilog(*EXAMPLES["report"]), **fmt)
    p_rep.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    p_rep.add_argument("--baseline", help="a run folder to compare the others against")
    p_rep.add_argument("--out", help="report folder (default: a fresh folder beside the first run, named after the runs: "
                                     "report-RUN1+RUN2[-vs-BASELINE])")
    p_rep.add_argument("--force", action="store_true",
                       help="replace an earlier report in --out (removes only the files that report wrote)")
    p_rep.add_argument("--allow-incomplete", action="store_true",
                       help="report unfinished runs, every table and plot marked 'incomplete: N of M images'")
    p_rep.add_argument("--html", action="store_true", help="also write an HTML report (OUT/index.html, opens from disk)")
    p_rep.add_argument("--gallery", type=int, default=4, help="HTML gallery: worst and best N per dataset (default 4)")
    p_rep.set_defaults(func=cmd_report)

    p_cmp = sub.add_parser("compare", help="paired deltas between runs with bootstrap intervals over images, paired "
                                           "tests and Holm correction; tables, plots, optional HTML",
                           epilog=epilog(*EXAMPLES["compare"]), **fmt)
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

    p_ds = sub.add_parser("datasets", help="list datasets (paper counts, found locally?) or verify one against the paper",
                          epilog=epilog(*EXAMPLES["datasets"]), **fmt)
    p_ds.add_argument("action", choices=["list", "verify"])
    p_ds.add_argument("name", nargs="?", metavar="NAME", help="dataset to verify")
    p_ds.add_argument("--root", help="dataset folder (verify)")
    p_ds.add_argument("--ann", help="annotation file, for adapters that take one")
    p_ds.add_argument("--split", help="split to verify")
    p_ds.add_argument("--seed", type=int, default=0, help="manifest seed (verify)")
    p_ds.add_argument("--search", action="append", metavar="DIR",
                      help="folders to look for local copies in (list; repeatable)")
    p_ds.set_defaults(func=cmd_datasets)

    p_list = sub.add_parser("list", help="registered models, datasets or tasks", epilog=epilog(*EXAMPLES["list"]), **fmt)
    p_list.add_argument("kind", choices=["models", "datasets", "tasks"])
    p_list.set_defaults(func=cmd_list)

    p_eval = sub.add_parser("edges-eval", help="score a folder of edge-map PNGs with the BSDS500 boundary benchmark",
                            epilog=epilog(*EXAMPLES["edges-eval"]), **fmt)
    from sambench.app import edges_eval

    edges_eval.add_arguments(p_eval)
    p_eval.set_defaults(func=edges_eval.run_edges_eval)
    return parser


def user_errors() -> Tuple[type, ...]:
    from sambench.datasets.base import DatasetLayoutError
    from sambench.models.base import UnsupportedPromptError
    from sambench.models.checkpoint import CheckpointError
    from sambench.models.extras import MissingExtraError
    from sambench.app.store import RunFolderError

    return (DatasetLayoutError, CheckpointError, UnknownNameError, RunFolderError, UnsupportedPromptError,
            MissingExtraError, FileNotFoundError, ValueError)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """Data warnings as one plain line ("sambench: warning: ..."); any other warning as Python prints it."""
    if category.__name__ == "DataWarning":
        return f"sambench: warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


_python_format_warning = warnings.formatwarning


def main(argv: Optional[List[str]] = None) -> int:
    warnings.formatwarning = _format_warning
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
