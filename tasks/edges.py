"""Zero-shot edge detection on BSDS500, the Segment Anything paper's protocol (§7.2, Table 3, App. D.2).

For every image: an edge map in [0, 1], written as an 8-bit PNG ``<out>/edge_maps/<image id>.png``
and scored from exactly those 8-bit values (``v / 255``) by the BSDS500 boundary benchmark
(:mod:`sambench.metrics.bsds`: 99 thresholds, maxDist 0.0075, thinning, all annotators), so
``sambench edges-eval`` on the PNGs reproduces the run's numbers.

Where the edge map comes from:

* a model with an ``edge_map(embedding)`` method (the weight-free ``sobel``, ``canny``,
  ``felzenszwalb`` baselines of :mod:`sambench.models.edge_baselines`, or a user's detector)
  gives it directly;
* any other (promptable) model goes through the App. D.2 recipe of :mod:`sambench.generation.sam_edges`:
  16x16 point grid, 3 masks per point (768), no predicted-IoU/stability filtering, box NMS 0.7,
  Sobel of the unthresholded mask probabilities on each mask's outer boundary, pixel-wise max,
  linear normalisation, edge NMS; thinning is the benchmark's.

Records: one row per image and threshold (the benchmark's per-image counts cntR sumR cntP sumP),
with the image's best threshold / recall / precision / F and its mask counts repeated on each row.
``summary.json``: ``{"task": "edges", "ods", "ois", "ap", "r50", ...}`` derived from the records alone.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from sambench.generation.amg import AmgConfig
from sambench.generation.amg import check_model as amg_check_model
from sambench.metrics.bsds import (DEFAULT_MAX_DIST, DEFAULT_OUTLIER_COST, BoundaryCounts, collect_results,
                                 evaluate_boundary_image, make_thresholds)
from sambench.data import Instance, Sample
from sambench.models.base import ImageEmbedding, PromptableModel, UnsupportedPromptError
from sambench.published import published_settings, published_table
from sambench.reporting import (RunInfo, count, delta_formats, labels_with_baseline, run_colors, save_plot,
                                side_by_side, write_table)
from sambench.generation.sam_edges import BOUNDARY_MODES, EdgeRecipe, quantize_edges, sam_edge_map, write_edge_png

from .base import TASKS, Task, skipped_entries

DEFAULT_THRESHOLDS = 99
EDGE_DIR = "edge_maps"
PUBLISHED_SOURCE = "published (SAM paper Table 3)"


def has_edge_map(model: PromptableModel) -> bool:
    """True for models that produce an edge map themselves (classical detectors)."""
    return callable(getattr(model, "edge_map", None))


def boundary_maps(sample: Sample, dataset: str = "") -> List[np.ndarray]:
    """The annotators' boundary maps of a sample (``Sample.extra["boundaries"]``), as bool arrays."""
    b = sample.extra.get("boundaries") if sample.extra else None
    if b is None or len(b) == 0:
        raise ValueError(f"dataset '{dataset or '?'}' gives no boundary maps for image {sample.image_id} "
                         f"(Sample.extra['boundaries']); the edges task needs BSDS-style ground truth")
    return [np.asarray(b[i]).astype(bool) for i in range(len(b))]


def evaluate_counts(pb: np.ndarray, gts: Sequence[np.ndarray], thresholds: np.ndarray, max_dist: float,
                    thin: bool, outlier_cost: float, workers: int = 1) -> BoundaryCounts:
    """``evaluate_boundary_image`` over ``thresholds``, split over threads (the numba kernels release
    the GIL); identical to one call."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    workers = max(1, min(int(workers), len(thresholds)))
    if workers == 1:
        return evaluate_boundary_image(pb, gts, thresholds=thresholds, max_dist=max_dist, thin=thin,
                                       outlier_cost=outlier_cost)
    chunks = [np.arange(j, len(thresholds), workers) for j in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda idx: evaluate_boundary_image(
            pb, gts, thresholds=thresholds[idx], max_dist=max_dist, thin=thin, outlier_cost=outlier_cost), chunks))
    arrays = {k: np.zeros(len(thresholds)) for k in ("cnt_r", "sum_r", "cnt_p", "sum_p")}
    for idx, part in zip(chunks, parts):
        for k in arrays:
            arrays[k][idx] = getattr(part, k)
    return BoundaryCounts(thresholds.copy(), arrays["cnt_r"], arrays["sum_r"], arrays["cnt_p"], arrays["sum_p"])


def _threshold_values(bench: Dict) -> np.ndarray:
    t = bench["thresholds"]
    return make_thresholds(int(t)) if isinstance(t, (int, np.integer)) else np.asarray(t, dtype=np.float64)


@TASKS.register("edges", "zero-shot edge detection on BSDS500: ODS/OIS/AP/R50 (SAM paper §7.2, Table 3)")
class EdgesTask(Task):
    """Zero-shot edge detection (paper §7.2, App. D.2), scored by the BSDS500 boundary benchmark.

    Promptable models: edge maps from a 16x16 grid of point prompts (768 masks), box NMS 0.7,
    Sobel of the mask probabilities on each mask's outer boundary, pixel-wise max, normalisation,
    edge NMS. Classical detectors (--model sobel | canny | felzenszwalb) give their own maps.
    Edge maps are written as 8-bit PNGs to OUT/edge_maps/ and scored from those values
    (99 thresholds, maxDist 0.0075, thinning); `sambench edges-eval --pred OUT/edge_maps` rescores them.
    """

    name = "edges"
    multi_dataset = False
    columns = ["threshold_index", "threshold", "cnt_r", "sum_r", "cnt_p", "sum_p",
               "best_threshold", "best_recall", "best_precision", "best_f",
               "n_points", "n_masks_generated", "n_masks_after_nms", "edge_png"]

    def __init__(self, recipe: Optional[EdgeRecipe] = None, thresholds=DEFAULT_THRESHOLDS,
                 max_dist: float = DEFAULT_MAX_DIST, thin: bool = True, outlier_cost: float = DEFAULT_OUTLIER_COST,
                 png_dir: Optional[Path] = None, eval_workers: Optional[int] = None):
        self.recipe = recipe or EdgeRecipe()
        if isinstance(thresholds, (int, np.integer)):
            if int(thresholds) < 1:
                raise ValueError(f"thresholds must be >= 1, got {thresholds}")
            self.thresholds = int(thresholds)
        else:
            self.thresholds = [float(t) for t in thresholds]
        self.max_dist = float(max_dist)
        self.thin = bool(thin)
        self.outlier_cost = float(outlier_cost)
        self.png_dir = Path(png_dir) if png_dir is not None else None
        self.eval_workers = int(eval_workers) if eval_workers else min(4, os.cpu_count() or 1)

    # -- command line -----------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--points-per-side", type=int, default=16, help="point grid n x n (default 16: 768 masks)")
        group.add_argument("--points-per-batch", type=int, default=64, help="points per decoder call (default 64)")
        group.add_argument("--single-output", action="store_true",
                           help="one mask per point instead of the multimask output (models without multimask)")
        group.add_argument("--box-nms", type=float, default=0.7, help="box NMS IoU threshold (default 0.7; 1 disables)")
        group.add_argument("--pred-iou-thresh", type=float, default=0.0, help="predicted-IoU filter (default 0: off)")
        group.add_argument("--stability-thresh", type=float, default=0.0, help="stability-score filter (default 0: off)")
        group.add_argument("--stability-offset", type=float, default=1.0, help="stability-score logit offset (default 1)")
        group.add_argument("--boundary", choices=BOUNDARY_MODES, default="outer",
                           help="where each mask's Sobel response is kept (default outer: pixels just outside the mask)")
        group.add_argument("--normalize", choices=["minmax", "max"], default="minmax",
                           help="linear normalisation of the max map (default minmax)")
        group.add_argument("--no-edge-nms", action="store_true", help="skip edge NMS")
        group.add_argument("--nms-presmooth", type=float, default=1.0, help="convTri radius before edge NMS (default 1)")
        group.add_argument("--thresholds", type=int, default=DEFAULT_THRESHOLDS, help="benchmark thresholds (default 99)")
        group.add_argument("--max-dist", type=float, default=DEFAULT_MAX_DIST,
                           help="matching tolerance, fraction of the image diagonal (default 0.0075)")
        group.add_argument("--eval-workers", type=int, default=None,
                           help="threads scoring one image (default min(4, cores); numbers do not depend on it)")

    @classmethod
    def from_args(cls, args) -> "EdgesTask":
        amg = AmgConfig.edges(points_per_side=args.points_per_side, points_per_batch=args.points_per_batch,
                              multimask=not args.single_output, box_nms_thresh=args.box_nms,
                              pred_iou_thresh=args.pred_iou_thresh, stability_score_thresh=args.stability_thresh,
                              stability_score_offset=args.stability_offset)
        recipe = EdgeRecipe(amg=amg, boundary=args.boundary, normalize=args.normalize,
                            edge_nms=not args.no_edge_nms, nms_presmooth=args.nms_presmooth)
        return cls(recipe, thresholds=args.thresholds, max_dist=args.max_dist,
                   png_dir=Path(args.out) / EDGE_DIR, eval_workers=args.eval_workers)

    @classmethod
    def from_protocol(cls, protocol: Dict) -> "EdgesTask":
        b = protocol["benchmark"]
        return cls(EdgeRecipe.from_dict(protocol["recipe"]), thresholds=b["thresholds"], max_dist=b["max_dist"],
                   thin=b["thin"], outlier_cost=b["outlier_cost"])

    def protocol(self) -> Dict:
        return {
            "edge_source": "model.edge_map(embedding) when the model has one (classical detectors), "
                           "else the App. D.2 recipe",
            "recipe": self.recipe.to_dict(),
            "benchmark": {"thresholds": self.thresholds, "max_dist": self.max_dist, "thin": self.thin,
                          "outlier_cost": self.outlier_cost, "ground_truth": "all annotators (BSDS groundTruth Boundaries)",
                          "prediction": "8-bit PNG round(255 * edge), scored as value / 255"},
        }

    def headline(self, summary: Dict) -> str:
        if summary.get("ods") is None:
            return f"{summary.get('dataset')}: no images scored"
        r50 = "-" if summary.get("r50") is None else f"{summary['r50']:.3f}"
        return (f"{summary.get('dataset')}: ODS={summary['ods']:.3f} OIS={summary['ois']:.3f} AP={summary['ap']:.3f} "
                f"R50={r50} ({count(summary['n_images'], 'image')}, {summary['n_skipped']} skipped)")

    def check_model(self, model: PromptableModel) -> None:
        if has_edge_map(model):
            return
        try:
            amg_check_model(model, self.recipe.amg)
        except UnsupportedPromptError as exc:
            hint = " (pass --single-output)" if "multimask" in str(exc) else ""
            raise UnsupportedPromptError(f"{exc}; the edges task prompts a grid of points{hint}") from exc

    # -- one image --------------------------------------------------------------------------------
    def edge_map(self, model: PromptableModel, embedding: ImageEmbedding):
        """(edge map in [0, 1], mask counts) of one encoded image."""
        if has_edge_map(model):
            return np.asarray(model.edge_map(embedding), dtype=np.float64), {}
        res = sam_edge_map(model, embedding, self.recipe)
        return res.edges, res.counts

    def process(self, model: PromptableModel, sample: Sample, embedding: ImageEmbedding,
                instances: Sequence[Instance], seed: int, dataset: str) -> List[Dict]:
        gts = boundary_maps(sample, dataset)
        edges, counts = self.edge_map(model, embedding)
        if edges.shape != (sample.height, sample.width):
            raise ValueError(f"edge map of shape {edges.shape} for image {sample.image_id} of size "
                             f"{sample.height}x{sample.width}")
        q = quantize_edges(edges)
        png = ""
        if self.png_dir is not None:
            path = self.png_dir / f"{sample.image_id}.png"
            write_edge_png(path, q)
            png = f"{EDGE_DIR}/{path.name}" if self.png_dir.name == EDGE_DIR else str(path)
        pb = q.astype(np.float64) / 255.0  # exactly what the benchmark reads from the PNG
        thr = _threshold_values({"thresholds": self.thresholds})
        c = evaluate_counts(pb, gts, thr, self.max_dist, self.thin, self.outlier_cost, self.eval_workers)
        best_t, best_r, best_p, best_f = (float(v) for v in collect_results([c]).image_best[0])
        rows = []
        for i, t in enumerate(thr):
            rows.append({"threshold_index": i, "threshold": repr(float(t)), "cnt_r": int(c.cnt_r[i]),
                         "sum_r": int(c.sum_r[i]), "cnt_p": int(c.cnt_p[i]), "sum_p": int(c.sum_p[i]),
                         "best_threshold": f"{best_t:.6g}", "best_recall": f"{best_r:.6f}",
                         "best_precision": f"{best_p:.6f}", "best_f": f"{best_f:.6f}",
                         "n_points": counts.get("points", ""), "n_masks_generated": counts.get("generated", ""),
                         "n_masks_after_nms": counts.get("after_nms", ""), "edge_png": png})
        return rows

    # -- summary ----------------------------------------------------------------------------------
    @staticmethod
    def report(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
        return report_edges(runs, base, out)

    def summarize(self, records: pd.DataFrame, done: List[Dict], config: Dict) -> Dict:
        skipped = skipped_entries(done)
        name = config["datasets"][0]["name"] if config.get("datasets") else ""
        protocol = config.get("protocol") or self.protocol()
        thr = _threshold_values(protocol["benchmark"])
        per_image: Dict[str, BoundaryCounts] = {}
        masks_generated, masks_kept = [], []
        if len(records):
            for image_id, g in records.groupby("image_id", sort=False):
                g = g.sort_values("threshold_index")
                if len(g) != len(thr) or not np.array_equal(g["threshold_index"].to_numpy(), np.arange(len(thr))):
                    raise ValueError(f"records of image {image_id}: {len(g)} thresholds, expected {len(thr)}")
                per_image[str(image_id)] = BoundaryCounts(
                    thr.copy(), *(g[k].to_numpy(dtype=np.float64) for k in ("cnt_r", "sum_r", "cnt_p", "sum_p")))
                first = g.iloc[0]
                if str(first.get("n_masks_generated", "")) not in ("", "nan"):
                    masks_generated.append(float(first["n_masks_generated"]))
                    masks_kept.append(float(first["n_masks_after_nms"]))
        out: Dict = {"task": "edges", "dataset": name, "model_label": config["model"].get("label"),
                     "ods": None, "ois": None, "ap": None, "r50": None, "n_images": len(per_image),
                     "n_skipped": len(skipped.get(name, [])), "n_images_skipped": len(skipped.get(name, [])),
                     "skipped": skipped.get(name, [])}  # the edges task's unit is the image
        if per_image:
            res = collect_results(per_image)
            out.update({"ods": res.ods, "ois": res.ois, "ap": res.ap, "r50": None if np.isnan(res.r50) else res.r50,
                        "ods_threshold": res.ods_threshold, "ods_recall": res.ods_recall,
                        "ods_precision": res.ods_precision, "ois_recall": res.ois_recall,
                        "ois_precision": res.ois_precision,
                        "curve": {"thresholds": res.thresholds.tolist(), "recall": res.recall.tolist(),
                                  "precision": res.precision.tolist(), "f": res.f.tolist()}})
        if masks_generated:
            out["masks_per_image"] = {"generated": float(np.mean(masks_generated)),
                                      "after_nms": float(np.mean(masks_kept))}
        out["edge_maps"] = EDGE_DIR
        out["protocol"] = protocol
        return out


# ---------------------------------------------------------------------------------------------
# report (Table 3 + PR curves)
# ---------------------------------------------------------------------------------------------

def published_table3() -> pd.DataFrame:
    """Table 3 of the SAM paper (BSDS500 test), from results/reference/published_results.md."""
    return published_table(3)[["method", "ODS", "OIS", "AP", "R50"]]


def edges_differences(run: RunInfo) -> List[str]:
    """What a measured edges run differs in from the published Table 3 numbers (thresholds, images, split, ...)."""
    pub = published_settings("3")
    s, bench = run.summary, (run.config.get("protocol") or {}).get("benchmark", {})
    entry = (run.config.get("datasets") or [{}])[0]
    out = []
    if s.get("dataset") != pub["dataset"]:
        out.append(f"dataset {s.get('dataset')} (published: {pub['dataset']})")
    elif entry.get("split") and entry.get("split") != pub["split"]:
        out.append(f"split {entry.get('split')} (published: {pub['split']})")
    t = bench.get("thresholds")
    n_thr = t if isinstance(t, int) else len(t or [])
    if n_thr and n_thr != int(pub["thresholds"]):
        out.append(f"{n_thr} thresholds (published: {pub['thresholds']})")
    if bench.get("max_dist") is not None and float(bench["max_dist"]) != float(pub["max_dist"]):
        out.append(f"maxDist {bench['max_dist']} (published: {pub['max_dist']})")
    subset_of_all = (entry.get("subset_of") or {}).get("n_images") == int(pub["images"])  # its phrase says "N of 200"
    if s.get("n_images") is not None and s.get("n_images") != int(pub["images"]) and not subset_of_all:
        out.append(f"{s.get('n_images')} of {pub['images']} images" if s.get("dataset") == pub["dataset"]
                   else f"{count(s.get('n_images'), 'image')} (published: {pub['images']})")
    return out + ([run.incomplete] if run.incomplete else []) + run.subsets()


def report_edges(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_runs = list(runs) + ([base] if base is not None else [])
    labels = labels_with_baseline(runs, base)
    colors = run_colors(labels)
    rows = []
    for run, label in zip(all_runs, labels):
        s = run.summary
        rows.append({"method": label, "ODS": s.get("ods"), "OIS": s.get("ois"), "AP": s.get("ap"), "R50": s.get("r50"),
                     "images": s.get("n_images"), "source": f"measured ({s.get('dataset')})",
                     "differs from published": "; ".join(edges_differences(run)) or "-"})
    pub = published_table3()
    for r in pub.itertuples(index=False):
        rows.append({"method": f"{r.method} [published]", "ODS": r.ODS, "OIS": r.OIS, "AP": r.AP, "R50": r.R50,
                     "images": 200, "source": PUBLISHED_SOURCE, "differs from published": ""})
    frame = pd.DataFrame(rows, columns=["method", "ODS", "OIS", "AP", "R50", "images", "source", "differs from published"])
    for c in ("ODS", "OIS", "AP", "R50"):
        frame[c] = frame[c].astype(float)
    frame["images"] = frame["images"].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(int(v)))
    write_table(frame, out / "tables", "edges_table3",
                caption="Zero-shot edge detection, BSDS500 (layout of SAM paper Table 3); published rows are the "
                        "paper's numbers on the 200 test images with 99 thresholds; the last column says what a "
                        "measured row differs in")
    sections = ["## Edge detection (Table 3)", "", (out / "tables" / "edges_table3.md").read_text(), ""]
    if len(all_runs) > 1:
        reference = labels[-1] if base is not None else labels[0]
        values = {label: {"ODS": r.summary.get("ods"), "OIS": r.summary.get("ois"), "AP": r.summary.get("ap"),
                          "R50": r.summary.get("r50"), "images": r.summary.get("n_images")}
                  for r, label in zip(all_runs, labels)}
        side = side_by_side(values, ["ODS", "OIS", "AP", "R50", "images"], reference)
        write_table(side, out / "tables", "edges_side_by_side", formats=delta_formats(side),
                    caption=f"Edge detection side by side; Δ = run minus {reference}")
        sections += ["## Side by side", "", (out / "tables" / "edges_side_by_side.md").read_text(), ""]
    notes = []
    for run, label in zip(all_runs, labels):
        s = run.summary
        if s.get("masks_per_image"):
            m = s["masks_per_image"]
            notes.append(f"- {label}: {m['generated']:.0f} masks generated per image, {m['after_nms']:.1f} after box NMS")
        notes.append(f"- {label}: 8-bit edge maps in `{run.path / s.get('edge_maps', EDGE_DIR)}`")
    sections += notes + [""]

    fig, ax = plt.subplots(figsize=(5.5, 5))
    grid = np.linspace(0.01, 1, 200)
    for f in np.arange(0.1, 1.0, 0.1):
        r = grid[grid > f / (2 - f)]
        p = f * r / (2 * r - f)
        ax.plot(r, p, color="0.85", lw=0.7, zorder=0)
    for run, label in zip(all_runs, labels):
        c = run.summary.get("curve")
        if not c:
            continue
        n_thr = len(c["recall"])
        ax.plot(c["recall"], c["precision"], lw=1.6, color=colors[label],
                label=f"{label} (ODS {run.summary['ods']:.3f}, {run.summary.get('n_images')} images, {n_thr} thresholds)")
        ax.plot([run.summary["ods_recall"]], [run.summary["ods_precision"]], "o", color=colors[label])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("recall (boundary pixels, all images pooled)")
    ax.set_ylabel("precision")
    ax.set_title("BSDS500 boundary PR curves (grey: iso-F)\npublished curves are not available, see the table", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    sections += save_plot(fig, out, "edges_pr.png", "PR curves")
    return sections
