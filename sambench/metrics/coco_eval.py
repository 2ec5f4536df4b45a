"""Glue to the official evaluators: pycocotools ``COCOeval`` and the ``lvis`` package's ``LVISEval``.

Nothing here computes a metric: it converts sambench records into the standard COCO results
format, hands them to the official evaluator and captures what the evaluator itself reports
(``COCOeval.stats``, ``LVISEval.results``) plus its printed summary.

- :class:`GroundTruth` reads a COCO or LVIS annotation json once (LVIS: every category has a
  ``frequency``) and builds the evaluator's ground-truth object from it.
- :func:`mask_ap`: mask AP (instance segmentation). COCO: ``COCOeval(iouType="segm")`` with the
  standard parameters (maxDets 1/10/100), the 12 numbers of ``stats``. LVIS: ``LVISEval`` with
  ``LVISResults(max_dets=300)`` (the official per-image cap), AP/AP50/AP75/APs/APm/APl/APr/APc/APf
  and AR@300.
- :func:`proposal_recall`: class-agnostic mask AR@K (object proposals). LVIS: every category id is
  mapped to one category, since ``Params.use_cats = 0`` is broken in lvis 0.5.3 (``_get_gt_dt``
  looks up ``(img_id, -1)`` and finds nothing); the image's ``neg_category_ids`` and
  ``not_exhaustive_category_ids`` (they only change how unmatched detections count, never recall)
  are emptied. ``LVISResults`` is built with ``max_dets=K`` (its default 300 would silently cut
  1000 proposals to 300) and ``params.max_dets = K``. Recall for one frequency group is recall
  against the ground truth of those categories only (the other annotations are left out).
  COCO: ``COCOeval`` with ``useCats=0`` and ``maxDets=[K, K, K]`` (``stats[8:12]`` are AR, ARs,
  ARm, ARl at K).

Compatibility: lvis 0.5.3 calls ``np.float`` in ``accumulate``, removed in numpy 1.24; while an
LVIS evaluation runs, ``numpy.float`` is aliased to ``float`` (and removed again afterwards).

Ground truth: the evaluators never parse the annotation file themselves. ``GroundTruth`` indexes it
by the rules of ``sambench.annotations`` (the rules every sambench reader follows) and hands the
evaluators a corrected copy of the evaluated images only: each usable annotation with its validated
RLE (a polygon pycocotools could not rasterise safely never reaches it), unique annotation ids
(renumbered 1..N in file order when the file's ids are missing or not unique), the file's ``area``
(the mask's pixel count where the file has none); defective annotations are left out and listed in
``GroundTruth.skipped``, exactly the masks the tasks skipped.

Results conventions: ``image_id``/``category_id`` are the ground truth's own ids; ``segmentation``
is compressed RLE with ``str`` counts. Segmentation results carry no ``bbox`` (as detectron2 drops
it for segm): with a ``bbox`` both evaluators would take the detection's area from the box
(``w*h``) and put a mask in the wrong size bucket; without it, area and box come from the mask.
No results at all is still evaluated by the official evaluator (an empty results set), so every
number is the evaluator's: 0 where there is ground truth, -1 where there is none (e.g. APs with no
small object), never a made-up 0.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from sambench.annotations import CocoFormatError, category_index, evaluator_dataset, index_coco

COCO_STAT_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR@1", "AR@10", "AR@100", "ARs@100", "ARm@100",
                   "ARl@100"]
"""Names of ``COCOeval.stats`` (segm / bbox), in order."""
LVIS_MAX_DETS = 300
AREA_LABELS = ("all", "small", "medium", "large")


class EvaluationError(ValueError):
    """Ground truth or results the evaluators cannot use (one line naming the file)."""


# ---------------------------------------------------------------------------------------------
# ground truth
# ---------------------------------------------------------------------------------------------

def read_json(path: Union[str, Path], what: str = "json") -> object:
    """Parse a json file; one-line EvaluationError naming the file if it cannot be read."""
    path = Path(path)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise EvaluationError(f"{path}: {what} not found")
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{path}: not a readable {what} ({str(exc).splitlines()[0]})") from exc


def is_lvis_format(data: dict) -> bool:
    """LVIS json: every category has a ``frequency`` (r/c/f)."""
    cats = data.get("categories") or []
    return isinstance(cats, list) and bool(cats) and all(isinstance(c, dict) and c.get("frequency") in ("r", "c", "f")
                                                         for c in cats)


def annotation_category_ids(path: Union[str, Path]) -> set:
    """The category ids of an annotation json, by the rule ``GroundTruth.category_ids`` follows,
    without indexing its annotations (EvaluationError, one line, for an unreadable file)."""
    try:
        return set(category_index(read_json(path, "annotation file"), path))
    except CocoFormatError as exc:
        raise EvaluationError(str(exc)) from exc


class GroundTruth:
    """One annotation json (COCO or LVIS format) as the evaluators need it.

    Arguments:
      source: path of the json, or the parsed dict.
      scope: sambench image ids (str) whose annotations are evaluated (default: every image); the
        evaluators' ground truth holds these images only.
    Attributes:
      index: the ``sambench.annotations.CocoIndex`` of the file.
      data: the corrected ground truth of the scope (see module docstring), built on first use.
      skipped: ``[{"image_id", "instance_id", "reason"}]`` annotations of the scope left out.
      path: where it came from (None for a dict).
      format: "lvis" or "coco".
    Raises:
      EvaluationError: a file that is not a readable COCO/LVIS json (one line naming it).
    """

    def __init__(self, source: Union[str, Path, dict], scope: Optional[Iterable[str]] = None):
        if isinstance(source, dict):
            self.path, raw = None, source
        else:
            self.path = Path(source)
            raw = read_json(self.path, "annotation file")
        try:
            self.index = index_coco(raw, self.path or "<annotations>")
        except CocoFormatError as exc:
            raise EvaluationError(str(exc)) from exc
        self.format = "lvis" if is_lvis_format(raw if isinstance(raw, dict) else {}) else "coco"
        self.image_ids = {k: im["id"] for k, im in self.index.images.items()}
        self.images = {im["id"]: im for im in self.index.images.values()}
        self.category_ids = set(self.index.categories)
        self.scope = None if scope is None else [str(i) for i in scope]
        self._data: Optional[dict] = None
        self.skipped: List[dict] = []
        self._coco = None
        self._lvis = None
        self._agnostic: Dict[object, object] = {}

    @property
    def data(self) -> dict:
        if self._data is None:
            self._data, self.skipped = evaluator_dataset(self.index, self.scope)
        return self._data

    @property
    def evaluator(self) -> str:
        return "lvis" if self.format == "lvis" else "pycocotools"

    def gt_id(self, image_id: str):
        """The json's own id of a sambench image id (ids are strings in sambench)."""
        return self.image_ids[str(image_id)]

    def annotation_areas(self) -> Dict[str, float]:
        """sambench instance id (the annotation's key) -> the ``area`` the evaluators bucket by."""
        return {a["sambench_key"]: float(a["area"]) for a in self.data["annotations"]}

    # -- evaluator objects ----------------------------------------------------------------------
    def coco(self):
        """pycocotools COCO object (built once)."""
        if self._coco is None:
            from pycocotools.coco import COCO

            data = self.data
            coco = COCO()
            coco.dataset = data
            with contextlib.redirect_stdout(io.StringIO()):
                coco.createIndex()
            self._coco = coco
        return self._coco

    def lvis(self):
        """lvis LVIS object (built once)."""
        if self._lvis is None:
            self._lvis = _lvis_from_dict(self.data)
        return self._lvis

    def class_agnostic(self, frequencies: Optional[Sequence[str]] = None):
        """Evaluator GT object with every category mapped to id 1, optionally only the annotations
        whose category frequency is in ``frequencies`` (LVIS). Built once per frequency set; the
        annotation dicts are shared, so polygons are rasterised once."""
        key = None if frequencies is None else tuple(sorted(frequencies))
        if key in self._agnostic:
            return self._agnostic[key]
        if self.format != "lvis":
            if key is not None:
                raise EvaluationError(f"{self.path}: frequency groups need an LVIS annotation file")
            obj = self.coco()
        else:
            if None not in self._agnostic:
                anns = [dict(a, category_id=1) for a in self.data["annotations"]]
                images = [dict(im, neg_category_ids=[], not_exhaustive_category_ids=[]) for im in self.data["images"]]
                base = {"images": images, "annotations": anns,
                        "categories": [{"id": 1, "name": "object", "frequency": "f", "synset": "object.n.01"}]}
                self._agnostic[None] = _lvis_from_dict(base)
            if key is None:
                return self._agnostic[None]
            base = self._agnostic[None].dataset
            freq = {c["id"]: c["frequency"] for c in self.data["categories"]}
            kept = [agn for agn, orig in zip(base["annotations"], self.data["annotations"])
                    if freq.get(orig["category_id"]) in key]
            obj = _lvis_from_dict(dict(base, annotations=kept))
        self._agnostic[key] = obj
        return obj


def _lvis_from_dict(data: dict):
    """An ``lvis.LVIS`` object from an already parsed dict (the class only reads files)."""
    from lvis import LVIS

    class _LVISFromDict(LVIS):
        def __init__(self, dataset: dict):  # noqa: D401 - mirrors LVIS.__init__ without the file read
            self.logger = logging.getLogger("lvis.lvis")
            self.dataset = dataset
            self._create_index()

    return _LVISFromDict(data)


@contextlib.contextmanager
def _lvis_numpy_compat():
    """lvis 0.5.3 uses ``np.float`` (removed in numpy 1.24): alias it while LVISEval runs."""
    added = False
    try:
        np.float  # noqa: B018
    except AttributeError:
        np.float = float  # type: ignore[attr-defined]
        added = True
    try:
        yield
    finally:
        if added:
            del np.float  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------

def write_results_json(path: Union[str, Path], results: Iterable[dict]) -> int:
    """Write a COCO results json (a list of dicts) one entry at a time; returns the count."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with open(tmp, "w") as f:
        f.write("[")
        for r in results:
            f.write(("," if n else "") + "\n" + json.dumps(r, separators=(",", ":")))
            n += 1
        f.write("\n]\n")
    tmp.replace(path)
    return n


def rle_from_field(value: str) -> dict:
    """Parse the records' ``HxW:counts`` RLE field into a COCO RLE dict (str counts)."""
    size, counts = str(value).split(":", 1)
    h, w = size.split("x")
    return {"size": [int(h), int(w)], "counts": counts}


def rle_field(rle: dict) -> str:
    """The records' RLE field: ``HxW:counts`` (never parsed as a number by CSV readers)."""
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return f"{int(rle['size'][0])}x{int(rle['size'][1])}:{counts}"


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------

def _stdout_of(fn, *args, **kwargs):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        value = fn(*args, **kwargs)
    return value, buf.getvalue()


def _to_float(v) -> float:
    return float(v)


def coco_eval(gt: GroundTruth, results: List[dict], iou_type: str = "segm", img_ids: Optional[Sequence] = None,
              use_cats: bool = True, max_dets: Optional[Sequence[int]] = None,
              return_evaluator: bool = False) -> Dict[str, object]:
    """Run pycocotools COCOeval; returns ``{"stats": [...12], "metrics": {name: value}, "log": text}``.

    Arguments:
      gt: the ground truth.
      results: COCO results (mutated by pycocotools: it adds ``id``, ``area``, ...).
      img_ids: evaluate these images (the json's ids); default every image of the json.
      use_cats: False = class-agnostic (pycocotools' own ``useCats=0``).
      max_dets: ``params.maxDets`` (default the standard [1, 10, 100]).
      return_evaluator: also return the evaluated ``COCOeval`` as ``"evaluator_object"`` (its
        per-image results ``evalImgs`` drive image-bootstrap intervals, sambench.metrics.resample).
    """
    from pycocotools.cocoeval import COCOeval

    coco_gt = gt.coco()
    if results:
        (coco_dt, log1) = _stdout_of(coco_gt.loadRes, results)
    else:  # COCO.loadRes([]) fails (cocoapi#450): the same empty results object, built directly
        from pycocotools.coco import COCO

        coco_dt = COCO()
        coco_dt.dataset = {"images": list(coco_gt.dataset["images"]), "categories": list(coco_gt.dataset["categories"]),
                           "annotations": []}
        _stdout_of(coco_dt.createIndex)
    ev = COCOeval(coco_gt, coco_dt, iouType=iou_type)
    if img_ids is not None:
        ev.params.imgIds = sorted(img_ids)
    ev.params.useCats = int(bool(use_cats))
    if max_dets is not None:
        ev.params.maxDets = list(max_dets)
    _, log2 = _stdout_of(ev.evaluate)
    _, log3 = _stdout_of(ev.accumulate)
    _, log4 = _stdout_of(ev.summarize)
    stats = [_to_float(v) for v in ev.stats]
    out = {"stats": stats, "metrics": dict(zip(COCO_STAT_NAMES, stats)), "log": log4,
           "max_dets": list(ev.params.maxDets), "n_results": len(results)}
    if return_evaluator:
        out["evaluator_object"] = ev
    return out


def lvis_eval(gt_obj, results: List[dict], max_dets: int = LVIS_MAX_DETS, iou_type: str = "segm",
              img_ids: Optional[Sequence] = None, area_all_only: bool = False,
              return_evaluator: bool = False) -> Dict[str, object]:
    """Run LVISEval; returns ``{"metrics": LVISEval.results, "log": print_results text}``.

    Arguments:
      gt_obj: an ``lvis.LVIS`` object (``GroundTruth.lvis()`` or ``.class_agnostic()``).
      results: LVIS/COCO results (mutated by LVISResults).
      max_dets: per-image cap, given to LVISResults AND params.max_dets.
      img_ids: evaluate these images (default all of the ground truth).
      area_all_only: evaluate only the "all" area range (faster; size metrics come back -1).
      return_evaluator: also return the evaluated ``LVISEval`` as ``"evaluator_object"``.
    """
    from lvis import LVISEval, LVISResults

    # the results object needs the images and categories only: avoid deep-copying every annotation
    light = _lvis_from_dict({"images": gt_obj.dataset["images"], "categories": gt_obj.dataset["categories"],
                             "annotations": []})
    logging.getLogger("lvis").setLevel(logging.ERROR)
    if results:
        dt = LVISResults(light, results, max_dets=int(max_dets))
    else:  # LVISResults([]) fails on results[0]: the same empty results object, built directly
        dt = LVISResults.__new__(LVISResults)
        dt.logger, dt.dataset = logging.getLogger("lvis.results"), light.dataset
        dt._create_index()
    ev = LVISEval(gt_obj, dt, iou_type=iou_type)
    ev.params.max_dets = int(max_dets)
    if img_ids is not None:
        ev.params.img_ids = sorted(img_ids)
    if area_all_only:
        ev.params.area_rng = [ev.params.area_rng[0]]
        ev.params.area_rng_lbl = ["all"]
    with _lvis_numpy_compat():
        ev.evaluate()
        ev.accumulate()
        with contextlib.redirect_stdout(io.StringIO()):
            ev.summarize()
    _, log = _stdout_of(ev.print_results)
    out = {"metrics": {k: _to_float(v) for k, v in ev.results.items()}, "log": log, "max_dets": int(max_dets)}
    if return_evaluator:
        out["evaluator_object"] = ev
    return out


def mask_ap(gt: GroundTruth, results: List[dict], img_ids: Optional[Sequence] = None,
            return_evaluator: bool = False) -> Dict[str, object]:
    """Mask AP with the dataset's official evaluator.

    Returns:
      ``{"evaluator", "metrics": {AP, AP50, AP75, APs, APm, APl, ...}, "stats" (COCO), "log"}``, all
      the evaluator's own numbers (no results at all included: -1 where it has no ground truth).
    """
    if gt.format == "lvis":
        out = lvis_eval(gt.lvis(), results, max_dets=LVIS_MAX_DETS, img_ids=img_ids, return_evaluator=return_evaluator)
        out["evaluator"] = "lvis"
    else:
        out = coco_eval(gt, results, "segm", img_ids=img_ids, return_evaluator=return_evaluator)
        out["evaluator"] = "pycocotools"
    return out


def proposal_recall(gt: GroundTruth, results: List[dict], max_dets: int, img_ids: Optional[Sequence] = None,
                    frequencies: Optional[Sequence[str]] = None, area_all_only: bool = False,
                    return_evaluator: bool = False) -> Dict[str, float]:
    """Class-agnostic mask AR at ``max_dets`` proposals per image, overall and by object size.

    Arguments:
      gt: ground truth (LVIS or COCO format).
      results: proposals as COCO results (any category id; they are made class-agnostic here).
        A caller that pre-selects proposals must keep, per image, only proposals of rank < max_dets.
      max_dets: K of AR@K.
      img_ids: evaluate these images.
      frequencies: LVIS only: recall against the annotations of these category frequencies only.
      area_all_only: skip the small/medium/large ranges.
    Returns:
      ``{"AR": ..., "AR_s": ..., "AR_m": ..., "AR_l": ...}`` as the evaluator reports them (-1 where
      there is no ground truth), plus ``"log"``.
    """
    K = int(max_dets)
    res = [dict(r, category_id=1) for r in results] if gt.format == "lvis" else [dict(r) for r in results]
    if gt.format == "lvis":
        obj = gt.class_agnostic(frequencies)
        ids = None if img_ids is None else sorted(img_ids)
        out = lvis_eval(obj, res, max_dets=K, img_ids=ids, area_all_only=area_all_only,
                        return_evaluator=return_evaluator)
        m = out["metrics"]
        get = lambda key: m.get(key, -1.0)  # noqa: E731
        log = "".join(line + "\n" for line in out["log"].splitlines() if "Average Recall" in line)
        return {"AR": get(f"AR@{K}"), "AR_s": get(f"ARs@{K}"), "AR_m": get(f"ARm@{K}"), "AR_l": get(f"ARl@{K}"),
                "log": log, **({"evaluator_object": out["evaluator_object"]} if return_evaluator else {})}
    if frequencies is not None:
        raise EvaluationError(f"{gt.path}: recall by category frequency needs an LVIS annotation file")
    out = coco_eval(gt, res, "segm", img_ids=img_ids, use_cats=False, max_dets=[K, K, K],
                    return_evaluator=return_evaluator)
    s = out["stats"]
    lines = [line for line in out["log"].splitlines() if "Average Recall" in line]
    log = "".join(line + "\n" for line in dict.fromkeys(lines))
    return {"AR": s[8], "AR_s": s[9], "AR_m": s[10], "AR_l": s[11], "log": log,
            **({"evaluator_object": out["evaluator_object"]} if return_evaluator else {})}
