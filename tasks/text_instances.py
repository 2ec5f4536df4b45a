"""Category names as text prompts: open-vocabulary instance segmentation on COCO and LVIS.

Every category name is a text prompt (a ``TextQuery`` in instances mode: every instance of the
concept), all prompts of an image in one ``segment_text`` call. Which categories an image is
prompted with:

- COCO (pycocotools): every category of the annotation file, on every image.
- LVIS (``--lvis-prompts federated``, the default): the image's positive categories (those
  annotated in it) and its negative categories (``neg_category_ids``), the two sets LVIS's
  federated evaluation scores an image on; detections of any other category are never scored by
  LVISEval, so for routes that score each phrase on its own this gives the AP of prompting all
  1203 categories, except that the 300-detections-per-image cap applies to the prompted
  categories only. ``--lvis-prompts all`` prompts every category on every image.

Phrases: ``--prompt-template`` (default ``"{name}"``, e.g. ``"a photo of a {name}."``) applied to
the category's name after ``--name-cleaning`` (comma list of ``underscores`` -> spaces,
``parentheses`` -> LVIS's disambiguations such as "(weapon)" dropped, ``lower``; default
``underscores,parentheses``; ``none``). ``--category-names synonyms`` prompts every LVIS synonym
of a category (cleaned the same way) and merges their masks per category, dropping a mask whose
mask IoU with a higher-scored mask of the same category is >= ``--synonym-nms`` (0.8). The whole
label space, cleaned and templated, is passed as the query's vocabulary (for routes that normalise
over classes). Every option is recorded in the protocol.

Each returned mask keeps its score and its category; per image at most ``--max-per-image``
(default: 100 for COCO as detectron2's evaluations keep, 300 for LVIS, the official cap) highest-
scored masks are kept. Scoring writes ``coco_results.json`` (image id, category id, RLE, score)
and runs the official evaluator of the annotation format through ``sambench.metrics.coco_eval``:
pycocotools ``COCOeval`` segm (AP, AP50, AP75, APs, APm, APl) or ``LVISEval`` (AP, AP50, AP75,
APs, APm, APl, APr, APc, APf). Only the images the run processed are evaluated.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from pycocotools import mask as coco_mask

from sambench.data import Instance, Sample
from sambench.metrics import coco_eval
from sambench.models.base import ImageEmbedding, PromptableModel, UnsupportedPromptError
from sambench.models.text import TextPromptableModel, TextQuery

from .base import TASKS, Task, skipped_entries
from .instances import annotation_file_of

CLEANING_STEPS = ("underscores", "parentheses", "lower")
AUTO_MAX = {"coco": 100, "lvis": 300}


def clean_name(name: str, steps: Sequence[str]) -> str:
    """A category name as a phrase: ``underscores`` -> spaces, ``parentheses`` -> "(...)" dropped, ``lower``."""
    if "underscores" in steps:
        name = name.replace("_", " ")
    if "parentheses" in steps:
        name = re.sub(r"\s*\([^)]*\)", " ", name)
    if "lower" in steps:
        name = name.lower()
    return " ".join(name.split())


@TASKS.register("text-instances", "category names as text prompts: mask AP on COCO (pycocotools), "
                                  "AP/APr/APc/APf on LVIS (lvis)")
class TextInstancesTask(Task):
    """Open-vocabulary instance segmentation with category names as prompts (see the module docstring).

    Arguments:
      template: prompt template with ``{name}``.
      name_cleaning: cleaning steps (``CLEANING_STEPS``).
      category_names: "name" or "synonyms" (LVIS).
      lvis_prompts: "federated" (positive + negative sets) or "all".
      max_per_image: masks kept per image (0 = 100 for COCO, 300 for LVIS).
      max_per_phrase: instances asked per phrase.
      min_score: masks scoring below are dropped.
      synonym_nms: mask-IoU threshold merging the masks of a category's synonyms.
    """

    name = "text-instances"
    subsample = False
    multi_dataset = False
    needs_annotation_file = True
    needs_instances = False  # every image is prompted, with ground truth or not (false positives count)
    text_prompts = True
    columns = ["category_id", "phrase", "rank", "score", "box_x0", "box_y0", "box_x1", "box_y1", "mask_area", "rle"]

    def __init__(self, template: str = "{name}", name_cleaning: Sequence[str] = ("underscores", "parentheses"),
                 category_names: str = "name", lvis_prompts: str = "federated", max_per_image: int = 0,
                 max_per_phrase: int = 100, min_score: float = 0.0, synonym_nms: float = 0.8,
                 run_dir: Optional[Path] = None):
        if "{name}" not in template:
            raise ValueError(f"--prompt-template {template!r}: must contain {{name}}")
        bad = [s for s in name_cleaning if s not in CLEANING_STEPS]
        if bad:
            raise ValueError(f"--name-cleaning {','.join(bad)}: expected a comma list of {', '.join(CLEANING_STEPS)} or none")
        if category_names not in ("name", "synonyms") or lvis_prompts not in ("federated", "all"):
            raise ValueError(f"--category-names {category_names} / --lvis-prompts {lvis_prompts}: expected "
                             f"name|synonyms and federated|all")
        if int(max_per_image) < 0 or int(max_per_phrase) < 1:
            raise ValueError("--max-per-image must be >= 0 (0 = 100 COCO / 300 LVIS), --max-per-phrase >= 1")
        self.template, self.name_cleaning = template, tuple(name_cleaning)
        self.category_names, self.lvis_prompts = category_names, lvis_prompts
        self.max_per_image, self.max_per_phrase = int(max_per_image), int(max_per_phrase)
        self.min_score, self.synonym_nms = float(min_score), float(synonym_nms)
        self.run_dir = Path(run_dir) if run_dir else None
        self._gt: Optional[coco_eval.GroundTruth] = None
        self._vocab: Optional[Dict] = None

    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--prompt-template", default="{name}", help='phrase template, e.g. "a photo of a {name}." '
                                                                       '(default "{name}")')
        group.add_argument("--name-cleaning", default="underscores,parentheses",
                           help="comma list of underscores, parentheses, lower; or none (default underscores,parentheses)")
        group.add_argument("--category-names", choices=["name", "synonyms"], default="name",
                           help="prompt each category's name, or each of its LVIS synonyms (masks merged per category)")
        group.add_argument("--lvis-prompts", choices=["federated", "all"], default="federated",
                           help="LVIS: prompt the image's positive + negative categories (default) or all categories")
        group.add_argument("--max-per-image", type=int, default=0, help="masks kept per image (0 = 100 COCO, 300 LVIS)")
        group.add_argument("--max-per-phrase", type=int, default=100, help="instances asked per phrase (default 100)")
        group.add_argument("--min-score", type=float, default=0.0, help="drop masks scoring below this (default 0)")
        group.add_argument("--synonym-nms", type=float, default=0.8,
                           help="mask IoU merging duplicate masks of one category's synonyms (default 0.8)")

    @classmethod
    def from_args(cls, args) -> "TextInstancesTask":
        steps = [] if args.name_cleaning.strip().lower() == "none" else [s.strip() for s in args.name_cleaning.split(",") if s.strip()]
        return cls(args.prompt_template, steps, args.category_names, args.lvis_prompts, args.max_per_image,
                   args.max_per_phrase, args.min_score, args.synonym_nms, run_dir=Path(args.out))

    @classmethod
    def from_protocol(cls, protocol: Dict) -> "TextInstancesTask":
        return cls(protocol["template"], protocol["name_cleaning"], protocol["category_names"], protocol["lvis_prompts"],
                   protocol["max_per_image"], protocol["max_per_phrase"], protocol["min_score"], protocol["synonym_nms"])

    def protocol(self) -> Dict:
        return {"template": self.template, "name_cleaning": list(self.name_cleaning),
                "category_names": self.category_names, "lvis_prompts": self.lvis_prompts,
                "max_per_image": self.max_per_image, "max_per_image_rule": "0 = 100 (COCO) / 300 (LVIS)",
                "max_per_phrase": self.max_per_phrase, "min_score": self.min_score, "synonym_nms": self.synonym_nms,
                "prompts": "COCO: every category; LVIS federated: the image's positive + negative categories",
                "evaluator": "pycocotools COCOeval segm (maxDets 100) or LVISEval (300 per image), by annotation format"}

    def check_model(self, model: PromptableModel) -> None:
        if not isinstance(model, TextPromptableModel):
            raise UnsupportedPromptError(
                f"model '{model.name}' does not answer text: add --detector NAME --detector-checkpoint DIR, "
                f"--detections FILE or --clip NAME to build a text route around it, or use a text model (sam3, "
                f"text-oracle)")

    # -- vocabulary -----------------------------------------------------------------------------------
    def ground_truth(self, config: Optional[Dict] = None) -> coco_eval.GroundTruth:
        """The annotation file of the run (the one the runner recorded in config.json), read once."""
        if self._gt is None:
            if config is None:
                config = json.loads((Path(self.run_dir) / "config.json").read_text())
            self._gt = coco_eval.GroundTruth(annotation_file_of(config["datasets"][0]))
        return self._gt

    def vocabulary(self) -> Dict:
        if self._vocab is None:
            gt = self.ground_truth()
            cats = sorted(gt.data["categories"], key=lambda c: c["id"])
            phrases: Dict[int, List[str]] = {}
            for c in cats:
                names = [c["name"]]
                if self.category_names == "synonyms":
                    names = list(dict.fromkeys([c["name"]] + list(c.get("synonyms") or [])))
                cleaned = [self.template.format(name=clean_name(str(n), self.name_cleaning)) for n in names]
                phrases[c["id"]] = list(dict.fromkeys(cleaned))
            positives: Dict[object, set] = {}
            for a in gt.data["annotations"]:
                positives.setdefault(a["image_id"], set()).add(a["category_id"])
            self._vocab = {"categories": [c["id"] for c in cats], "phrases": phrases, "positives": positives,
                           "all_phrases": list(dict.fromkeys(p for c in cats for p in phrases[c["id"]])),
                           "max_per_image": self.max_per_image or AUTO_MAX[gt.format]}
        return self._vocab

    def image_categories(self, image_id: str) -> List[int]:
        gt, vocab = self.ground_truth(), self.vocabulary()
        if gt.format != "lvis" or self.lvis_prompts == "all":
            return vocab["categories"]
        key = gt.image_ids.get(str(image_id))
        im = gt.images.get(key, {})
        wanted = set(vocab["positives"].get(key, set())) | set(im.get("neg_category_ids", []) or [])
        return [c for c in vocab["categories"] if c in wanted]

    # -- one image ------------------------------------------------------------------------------------
    def process(self, model: PromptableModel, sample: Sample, embedding: ImageEmbedding,
                instances: Sequence[Instance], seed: int, dataset: str) -> List[Dict]:
        vocab = self.vocabulary()
        cats = self.image_categories(sample.image_id)
        pairs = [(c, p) for c in cats for p in vocab["phrases"][c]]
        if not pairs:
            return []
        query = TextQuery([p for _, p in pairs], mode="instances", vocabulary=vocab["all_phrases"],
                          category_ids=[c for c, _ in pairs], max_per_phrase=self.max_per_phrase, min_score=self.min_score,
                          max_total=vocab["max_per_image"] if self.category_names == "name" else None)
        answers = model.segment_text(embedding, query)
        found = []  # (score, category, phrase, rle, box)
        for (cat, phrase), a in zip(pairs, answers):
            found += [(float(s), cat, phrase, r, b) for r, s, b in zip(a.rles, a.scores, a.boxes) if s >= self.min_score]
        if self.category_names == "synonyms":
            found = self._merge_synonyms(found)
        found.sort(key=lambda f: -f[0])
        rows = []
        for rank, (score, cat, phrase, rle, box) in enumerate(found[: vocab["max_per_image"]]):
            rows.append({"category_id": int(cat), "phrase": phrase, "rank": rank, "score": repr(score),
                         "box_x0": repr(float(box[0])), "box_y0": repr(float(box[1])), "box_x1": repr(float(box[2])),
                         "box_y1": repr(float(box[3])), "mask_area": int(coco_eval_area(rle)),
                         "rle": coco_eval.rle_field(rle)})
        return rows

    def _merge_synonyms(self, found: List[tuple]) -> List[tuple]:
        out = []
        by_cat: Dict[int, List[tuple]] = {}
        for f in found:
            by_cat.setdefault(f[1], []).append(f)
        for cat, items in by_cat.items():
            items.sort(key=lambda f: -f[0])
            coco = [_coco_rle(f[3]) for f in items]
            ious = coco_mask.iou(coco, coco, [0] * len(coco)) if len(coco) > 1 else np.zeros((1, 1))
            kept: List[int] = []
            for i in range(len(items)):
                if all(ious[i, j] < self.synonym_nms for j in kept):
                    kept.append(i)
            out += [items[i] for i in kept]
        return out

    # -- summary --------------------------------------------------------------------------------------
    def headline(self, summary: Dict) -> str:
        keys = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")
        parts = [f"{k}={summary[k]:.3f}" for k in keys if summary.get(k) is not None]
        return f"{summary.get('dataset')}: mask AP ({summary.get('evaluator')}) with category-name prompts: " + ", ".join(parts)

    def summarize(self, records: pd.DataFrame, done: List[Dict], config: Dict) -> Dict:
        entry = config["datasets"][0]
        name = entry["name"]
        gt = self.ground_truth(config)
        rec = records[records["dataset"] == name] if len(records) else records
        processed = [d["image_id"] for d in done if d["dataset"] == name and d.get("status") == "ok"]
        img_ids = [gt.image_ids[i] for i in processed if i in gt.image_ids]
        results = [{"image_id": gt.image_ids[str(r.image_id)], "category_id": int(r.category_id), "score": float(r.score),
                    "segmentation": coco_eval.rle_from_field(r.rle)} for r in rec.itertuples(index=False)]
        results_path = None
        if self.run_dir is not None:
            results_path = self.run_dir / "coco_results.json"
            coco_eval.write_results_json(results_path, results)
        ev = coco_eval.mask_ap(gt, results, img_ids=img_ids)
        metrics = {k: float(v) for k, v in ev["metrics"].items()}
        summary: Dict = {"task": "text-instances", "dataset": name, "route": config["model"].get("route"),
                         "model_label": config["model"].get("label"), "evaluator": ev["evaluator"],
                         "annotation_file": str(gt.path), "annotation_format": gt.format}
        keys = ["AP", "AP50", "AP75", "APs", "APm", "APl"] + (["APr", "APc", "APf"] if gt.format == "lvis" else [])
        summary.update({k: metrics.get(k) for k in keys})
        summary.update({"metrics": metrics, "evaluator_log": ev["log"], "results_json": str(results_path) if results_path else None,
                        "n_images": len(img_ids), "n_masks": len(results),
                        "max_per_image": self.max_per_image or AUTO_MAX[gt.format]})
        if "stats" in ev:
            summary["stats"] = ev["stats"]
        skipped = skipped_entries(done).get(name, [])
        summary["n_images_skipped"] = sum(1 for s in skipped if s["instance_id"] is None)
        summary["skipped"] = skipped
        summary["protocol"] = config["protocol"]
        return summary

    @staticmethod
    def report(runs, base, out: Path) -> List[str]:
        from ._text_report import report_text_instances

        return report_text_instances(runs, base, out)


def _coco_rle(rle: dict) -> dict:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def coco_eval_area(rle: dict) -> int:
    return int(coco_mask.area(_coco_rle(rle)))
