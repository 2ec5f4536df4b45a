"""Point prompts, the Segment Anything paper's protocol (§7.1, Fig. 9).

For every ground-truth mask: a first positive click (``center`` or ``random``, see
``sambench.prompts``), then corrective clicks by the RITM rule up to the largest requested count.
All masks of an image are decoded as one batch per click round against one image embedding.

Default mask: at 1 click, the multimask output with the highest predicted IoU (for a model
without multimask output, its single mask); at more clicks, the single-mask output. Oracle (1 click
only): the best of the multimask outputs against the ground truth. The mask chosen at each round is
the one the next click corrects; feeding its low-res logits back as a mask prompt is an option
(``mask_input``), off by default. IoU at the original resolution, ignore pixels excluded.
Optionally NoC@85/90 with up to 20 clicks (RITM).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from sambench import masks as mask_utils
from sambench.data import Instance, Sample
from sambench.models.base import ImageEmbedding, PromptableModel, PromptBatch, UnsupportedPromptError
from sambench.prompts import Click, first_point, next_click
from sambench.runner import stable_seed

from .base import TASKS, Task, skipped_entries

DEFAULT_POINTS = (1, 2, 3, 5, 9)
NOC_MAX_CLICKS = 20
NOC_THRESHOLDS = (0.85, 0.90)


def noc(ious: Sequence[float], threshold: float, max_clicks: int = NOC_MAX_CLICKS) -> int:
    """Number of clicks to reach ``threshold`` IoU (``max_clicks`` if never), ``ious[k]`` at k+1 clicks."""
    for k, v in enumerate(ious[:max_clicks]):
        if v >= threshold:
            return k + 1
    return max_clicks


@TASKS.register("point", "point prompts on ground-truth masks: mIoU at 1..N clicks (SAM paper §7.1)")
class PointTask(Task):
    """Point-prompt evaluation (paper §7.1).

    Arguments:
      points: click counts reported (e.g. 1, 2, 3, 5, 9).
      first_point_mode: "center" or "random".
      mask_input: feed the previous round's low-res logits back.
      compute_noc: also simulate up to 20 clicks and report NoC@85/90.
      max_batch: prompt sets per decoder call (memory bound on big images).
    """

    name = "point"
    subsample = True
    columns = ["instance_id", "area", "n_clicks", "click_x", "click_y", "click_positive", "iou",
               "iou_oracle", "pred_iou", "no_error"]

    def __init__(self, points: Sequence[int] = DEFAULT_POINTS, first_point_mode: str = "center",
                 mask_input: bool = False, compute_noc: bool = False, max_batch: int = 64):
        points = sorted(set(int(p) for p in points))
        if not points or points[0] < 1:
            raise ValueError(f"points must be positive click counts, got {points}")
        if first_point_mode not in ("center", "random"):
            raise ValueError(f"first point mode '{first_point_mode}': expected center or random")
        self.points = points
        self.first_point_mode = first_point_mode
        self.mask_input = bool(mask_input)
        self.compute_noc = bool(compute_noc)
        self.max_batch = int(max_batch)
        self.max_clicks = max(points + ([NOC_MAX_CLICKS] if compute_noc else []))

    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--points", default="1,2,3,5,9", help="click counts to report (default 1,2,3,5,9)")
        group.add_argument("--first-point", choices=["center", "random"], default="center",
                           help="first click: deepest interior point (default) or a seeded random pixel")
        group.add_argument("--mask-input", action="store_true", help="feed the previous low-res logits back (off by default)")
        group.add_argument("--noc", action="store_true", help="also simulate up to 20 clicks and report NoC@85/90")
        group.add_argument("--max-batch", type=int, default=64, help="prompt sets per decoder call")

    @classmethod
    def from_args(cls, args) -> "PointTask":
        try:
            points = [int(p) for p in str(args.points).split(",") if p.strip()]
        except ValueError:
            raise ValueError(f"--points '{args.points}': expected comma-separated click counts like 1,2,3,5,9")
        return cls(points, args.first_point, args.mask_input, args.noc, args.max_batch)

    @classmethod
    def from_protocol(cls, protocol: Dict) -> "PointTask":
        return cls(protocol["points"], protocol["first_point"], protocol["mask_input"], bool(protocol.get("noc")))

    def headline(self, summary: Dict) -> str:
        parts = [f"{name}: " + ", ".join(f"mIoU@{k}={v:.3f}" for k, v in d["miou"].items())
                 + f" (oracle@1={d['miou_oracle'].get('1', float('nan')):.3f}, {d['n_masks']} masks, {d['n_skipped']} skipped)"
                 for name, d in summary["datasets"].items()]
        return "\n".join(parts)

    def protocol(self) -> Dict:
        return {"points": self.points, "first_point": self.first_point_mode, "mask_input": self.mask_input,
                "max_clicks": self.max_clicks, "noc": list(NOC_THRESHOLDS) if self.compute_noc else None,
                "next_click": "ritm", "default_mask": "multimask-highest-predicted-iou@1,single@>1",
                "oracle_mask": "multimask-best-gt-iou@1", "iou": "original resolution, ignore excluded"}

    def check_model(self, model: PromptableModel) -> None:
        caps = model.capabilities
        if not caps.points:
            raise UnsupportedPromptError(f"model '{model.name}' takes no point prompts; the point task needs them")
        if self.max_clicks > 1 and not caps.negative_points:
            raise UnsupportedPromptError(f"model '{model.name}' takes no negative points; use --points 1")
        if self.mask_input and not caps.mask_input:
            raise UnsupportedPromptError(f"model '{model.name}' takes no mask input; drop --mask-input")

    def _decode(self, model, embedding, prompts: PromptBatch, multimask: bool):
        """Decode in chunks of max_batch; returns (masks B,K,H,W bool, pred_iou B,K, low_res or None)."""
        masks, ious, lows = [], [], []
        for start in range(0, len(prompts), self.max_batch):
            pred = model.decode(embedding, prompts.select(slice(start, start + self.max_batch)), multimask)
            masks.append((pred.logits > model.mask_threshold).cpu().numpy())
            ious.append(pred.iou_predictions.float().cpu().numpy())
            lows.append(None if pred.low_res_logits is None else pred.low_res_logits.cpu())
        low = None if any(x is None for x in lows) else torch.cat(lows)
        return np.concatenate(masks), np.concatenate(ious), low

    def process(self, model: PromptableModel, sample: Sample, embedding: ImageEmbedding,
                instances: Sequence[Instance], seed: int, dataset: str) -> List[Dict]:
        gts = [inst.mask() for inst in instances]
        ignore = sample.ignore_mask()
        n = len(instances)
        clicks: List[List[Click]] = []
        for inst, gt in zip(instances, gts):
            rng = np.random.default_rng(stable_seed(seed, dataset, sample.image_id, inst.id))
            clicks.append([first_point(gt, self.first_point_mode, rng)])
        targets = [inst.id for inst in instances]
        multimask = model.capabilities.multimask
        rows: List[Dict] = []
        current = [None] * n  # chosen mask per instance
        low_res: List[Optional[torch.Tensor]] = [None] * n
        active = list(range(n))
        last_iou = [0.0] * n
        last_pred_iou = [float("nan")] * n
        for k in range(1, self.max_clicks + 1):
            if k > 1:
                still = []
                for b in range(n):
                    c = next_click(gts[b], current[b], clicks[b], ignore) if b in active else None
                    if c is None:  # no error left: the mask stands for every later count
                        rows.append(self._row(instances[b], k, None, last_iou[b], None, last_pred_iou[b], True))
                    else:
                        clicks[b].append(c)
                        still.append(b)
                active = still
                if not active:
                    continue
            coords = np.array([[[c.x, c.y] for c in clicks[b]] for b in active], dtype=np.float64)
            labels = np.array([[1 if c.positive else 0 for c in clicks[b]] for b in active], dtype=np.int64)
            mask_in = None
            if self.mask_input and k > 1:
                mask_in = torch.stack([low_res[b] for b in active])
            prompts = PromptBatch(point_coords=coords, point_labels=labels, mask_input=mask_in,
                                  targets=[targets[b] for b in active])
            use_multi = multimask and k == 1
            masks, pred_ious, low = self._decode(model, embedding, prompts, use_multi)
            for j, b in enumerate(active):
                ious = mask_utils.batch_iou(masks[j], gts[b], ignore)
                pick = int(np.argmax(pred_ious[j])) if use_multi else 0
                current[b] = masks[j, pick]
                if low is not None:
                    low_res[b] = low[j, pick][None]
                last_iou[b] = float(ious[pick])
                last_pred_iou[b] = float(pred_ious[j, pick])
                oracle = float(ious.max()) if k == 1 else None
                rows.append(self._row(instances[b], k, clicks[b][-1], last_iou[b], oracle, last_pred_iou[b], False))
        return rows

    @staticmethod
    def _row(inst: Instance, k: int, click: Optional[Click], iou: float, oracle: Optional[float],
             pred_iou: float, no_error: bool) -> Dict:
        return {"instance_id": inst.id, "area": inst.area, "n_clicks": k,
                "click_x": "" if click is None else click.x, "click_y": "" if click is None else click.y,
                "click_positive": "" if click is None else int(click.positive), "iou": f"{iou:.6f}",
                "iou_oracle": "" if oracle is None else f"{oracle:.6f}", "pred_iou": f"{pred_iou:.6f}",
                "no_error": int(no_error)}

    def summarize(self, records: pd.DataFrame, done: List[Dict], config: Dict) -> Dict:
        skipped = skipped_entries(done)
        datasets: Dict[str, Dict] = {}
        names = [d["name"] for d in config["datasets"]]
        for name in names:
            rec = records[records["dataset"] == name] if len(records) else records
            by_k = rec.groupby("n_clicks")["iou"].mean() if len(rec) else pd.Series(dtype=float)
            one = rec[rec["n_clicks"] == 1] if len(rec) else rec
            entry = {
                "miou": {str(k): float(by_k[k]) for k in self.points if k in by_k.index},
                "miou_oracle": {"1": float(one["iou_oracle"].mean())} if len(one) else {},
                "n_masks": int(len(one)),
                "n_images": int(one["image_id"].nunique()) if len(one) else 0,
                "n_skipped": int(sum(s["n_masks"] or 1 for s in skipped.get(name, []))),
                "skipped": skipped.get(name, []),
            }
            if self.compute_noc and len(rec):
                traj = rec.sort_values("n_clicks").groupby(["image_id", "instance_id"])["iou"].apply(list)
                entry["noc"] = {f"{int(t * 100)}": float(np.mean([noc(v, t) for v in traj])) for t in NOC_THRESHOLDS}
            datasets[name] = entry
        valid = [d for d in datasets.values() if d["n_masks"]]
        mean = {str(k): float(np.mean([d["miou"][str(k)] for d in valid])) for k in self.points
                if valid and all(str(k) in d["miou"] for d in valid)}
        mean_oracle = {"1": float(np.mean([d["miou_oracle"]["1"] for d in valid]))} if valid else {}
        return {"task": "point", "model_label": config["model"].get("label"), "datasets": datasets,
                "mean_miou": mean, "mean_miou_oracle": mean_oracle, "protocol": config["protocol"]}
