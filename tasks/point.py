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

Cost: the decoder's outputs stay on the model's device; thresholding, the pick and the IoU of
every output against the ground truth happen there, and only the chosen mask comes back to the
host (as bool) for the next click. The stages (decoder, prompt simulation, metric) are timed
through ``Task.timer``. ``host_scoring=True`` scores on the host instead (every output copied
back, IoU with numpy), in the same click loop: the reference the device scoring is tested against,
record for record. The clicks of a round (one per mask still in play) are simulated by
``click_threads`` threads (the distance transforms and mask operations release the GIL), so on a
GPU the host's click simulation does not serialise behind one core; the clicks are the same in any
order, and so are the records.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from sambench import masks as mask_utils
from sambench.data import Instance, Sample
from sambench.metrics.coco_eval import rle_field
from sambench.models.base import ImageEmbedding, PromptableModel, PromptBatch, UnsupportedPromptError
from sambench.prompts import Click, first_point, next_click
from sambench.reporting import RunInfo, count
from sambench.rng import stable_seed

from ._point_report import report_point
from .base import TASKS, Task, skip_summary

DEFAULT_POINTS = (1, 2, 3, 5, 9)
NOC_MAX_CLICKS = 20
NOC_THRESHOLDS = (0.85, 0.90)


class _DeviceTruth:
    """An image's ground-truth masks (and valid pixels) on the decoder's device, to score outputs there.

    ``iou`` gives what ``sambench.masks.batch_iou`` gives on the host: integer pixel counts, ignore
    pixels excluded, divided in float64 (1.0 when the union is empty), so the values are identical.
    """

    def __init__(self, gts: Sequence[np.ndarray], ignore: Optional[np.ndarray], device):
        import torch

        self.gts = torch.from_numpy(np.stack(gts)).to(device) if len(gts) else None
        self.valid = None if ignore is None else torch.from_numpy(~ignore).to(device)

    def iou(self, masks: torch.Tensor, rows: Sequence[int]) -> np.ndarray:
        """IoU of masks (b, K, H, W) bool with the ground truth ``rows`` (b,); (b, K) float64."""
        import torch

        gt = self.gts.to(masks.device)[torch.as_tensor(list(rows), device=masks.device)][:, None]
        if self.valid is not None:
            valid = self.valid.to(masks.device)
            masks, gt = masks & valid, gt & valid
        inter = (masks & gt).sum(dim=(-2, -1))
        union = (masks | gt).sum(dim=(-2, -1))
        out = torch.where(union > 0, inter.double() / union.clamp(min=1).double(),
                          torch.ones((), dtype=torch.float64, device=masks.device))
        return out.cpu().numpy()


class _HostTruth:
    """An image's ground-truth masks on the host: the reference scoring (``host_scoring``)."""

    def __init__(self, gts: Sequence[np.ndarray], ignore: Optional[np.ndarray]):
        self.gts, self.ignore = gts, ignore

    def iou(self, masks: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """IoU of masks (b, K, H, W) bool with the ground truth ``rows`` (b,); (b, K) float64."""
        return np.stack([mask_utils.batch_iou(m, self.gts[r], self.ignore) for m, r in zip(masks, rows)])


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
      save_masks: which predicted masks the records keep as RLE (``pred_rle``, ``HxW:counts``):
        "first" (at 1 click, the default), "reported" (at every reported count) or "none". Not
        part of the protocol: it changes no number. Rows without a decode (no error left) have none.
      ignore_void: exclude the dataset's void pixels (``Sample.void``: Cityscapes, DRAM) from IoU and
        clicks; default False: plain per-mask IoU, as the paper states. A dataset's own ignore rule
        (GrabCut's 128 band, ``Sample.ignore``) always applies.
      host_scoring: move every output to the host and score with numpy (the reference path).
      click_threads: threads simulating a round's clicks (0: min(8, CPU count); 1: none). Not
        part of the protocol: it changes no number.
    """

    name = "point"
    subsample = True
    columns = ["instance_id", "area", "n_clicks", "click_x", "click_y", "click_positive", "iou",
               "iou_oracle", "pred_iou", "no_error", "pred_rle"]
    SAVE_MASKS = ("first", "reported", "none")  # pred_rle: the chosen mask at 1 click / every reported count

    def __init__(self, points: Sequence[int] = DEFAULT_POINTS, first_point_mode: str = "center",
                 mask_input: bool = False, compute_noc: bool = False, max_batch: int = 64,
                 save_masks: str = "first", ignore_void: bool = False, host_scoring: bool = False,
                 click_threads: int = 0):
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
        if save_masks not in self.SAVE_MASKS:
            raise ValueError(f"--save-masks '{save_masks}': expected one of {', '.join(self.SAVE_MASKS)}")
        self.mask_counts = {"first": {1}, "reported": set(points), "none": set()}[save_masks]
        self.ignore_void = bool(ignore_void)
        self.host_scoring = bool(host_scoring)
        self.max_clicks = max(points + ([NOC_MAX_CLICKS] if compute_noc else []))
        if int(click_threads) < 0:
            raise ValueError(f"--click-threads {click_threads}: expected 0 (automatic) or a positive count")
        self.click_threads = int(click_threads) or min(8, os.cpu_count() or 1)
        self._pool: Optional[ThreadPoolExecutor] = None

    def _map(self, fn: Callable, *columns: Sequence) -> list:
        """``[fn(*row) for row in zip(*columns)]``, on ``click_threads`` threads when there is more than one row."""
        rows = list(zip(*columns))
        if self.click_threads == 1 or len(rows) < 2:
            return [fn(*row) for row in rows]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.click_threads, thread_name_prefix="sambench-clicks")
        return list(self._pool.map(lambda row: fn(*row), rows))

    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--points", default="1,2,3,5,9", help="click counts to report (default 1,2,3,5,9)")
        group.add_argument("--first-point", choices=["center", "random"], default="center",
                           help="first click: deepest interior point (default) or a seeded random pixel")
        group.add_argument("--mask-input", action="store_true", help="feed the previous low-res logits back (off by default)")
        group.add_argument("--noc", action="store_true", help="also simulate up to 20 clicks and report NoC@85/90")
        group.add_argument("--max-batch", type=int, default=64, help="prompt sets per decoder call")
        group.add_argument("--save-masks", choices=cls.SAVE_MASKS, default="first",
                           help="predicted masks kept in the records as RLE, for the HTML gallery: at 1 click "
                                "(default), at every reported count, or none")
        group.add_argument("--click-threads", type=int, default=0, metavar="N",
                           help="threads simulating the clicks of a round (default 0: min(8, CPU count); 1: none)")
        group.add_argument("--ignore-void", action="store_true",
                           help="exclude void pixels (Cityscapes, DRAM) from IoU and clicks; default: plain IoU, "
                                "as the paper (a dataset's own ignore band, e.g. GrabCut's, always applies)")

    @classmethod
    def from_args(cls, args) -> "PointTask":
        try:
            points = [int(p) for p in str(args.points).split(",") if p.strip()]
        except ValueError:
            raise ValueError(f"--points '{args.points}': expected comma-separated click counts like 1,2,3,5,9")
        return cls(points, args.first_point, args.mask_input, args.noc, args.max_batch,
                   getattr(args, "save_masks", "first"), ignore_void=getattr(args, "ignore_void", False),
                   click_threads=getattr(args, "click_threads", 0))

    @classmethod
    def from_protocol(cls, protocol: Dict) -> "PointTask":
        return cls(protocol["points"], protocol["first_point"], protocol["mask_input"], bool(protocol.get("noc")),
                   ignore_void=bool(protocol.get("ignore_void", False)))

    def headline(self, summary: Dict) -> str:
        parts = []
        for name, d in summary["datasets"].items():
            oracle = d["miou_oracle"].get("1")
            skipped = f"skipped: {count(d['n_skipped'], 'mask')}"
            if d.get("n_images_skipped"):
                skipped += f" ({count(d['n_images_skipped'], 'image')})"
            parts.append(f"{name}: " + (", ".join(f"mIoU@{k}={v:.3f}" for k, v in d["miou"].items()) or "no mask evaluated")
                         + f" (oracle@1={'-' if oracle is None else f'{oracle:.3f}'}, {count(d['n_masks'], 'mask')}, {skipped})")
        return "\n".join(parts)

    def protocol(self) -> Dict:
        return {"points": self.points, "first_point": self.first_point_mode, "mask_input": self.mask_input,
                "max_clicks": self.max_clicks, "noc": list(NOC_THRESHOLDS) if self.compute_noc else None,
                "next_click": "ritm", "default_mask": "multimask-highest-predicted-iou@1,single@>1",
                "oracle_mask": "multimask-best-gt-iou@1", "iou": "original resolution, ignore excluded",
                "ignore_void": self.ignore_void,
                "void_pixels": "excluded from IoU and clicks" if self.ignore_void
                else "scored as background (plain per-mask IoU)"}

    def check_model(self, model: PromptableModel) -> None:
        caps = model.capabilities
        if not caps.points:
            raise UnsupportedPromptError(f"model '{model.name}' takes no point prompts; the point task needs them")
        if self.max_clicks > 1 and not caps.negative_points:
            raise UnsupportedPromptError(f"model '{model.name}' takes no negative points; use --points 1")
        if self.mask_input and not caps.mask_input:
            raise UnsupportedPromptError(f"model '{model.name}' takes no mask input; drop --mask-input")

    def _decode_and_score_on_host(self, model, embedding, prompts: PromptBatch, multimask: bool,
                                  gts: "_HostTruth", rows: Sequence[int]):
        """The reference path (``host_scoring``): every output to the host, IoU with numpy
        (``sambench.masks.batch_iou``). Returns what ``_decode_and_score`` returns."""
        import torch

        chosen, ious, pred_ious, picks, lows = [], [], [], [], []
        for start in range(0, len(prompts), self.max_batch):
            pred = model.decode(embedding, prompts.select(slice(start, start + self.max_batch)), multimask)
            masks = (pred.logits > model.mask_threshold).cpu().numpy()
            piou = pred.iou_predictions.float().cpu().numpy()
            pick = np.argmax(piou, axis=1) if multimask else np.zeros(len(piou), dtype=np.int64)
            span = np.arange(len(pick))
            ious.append(gts.iou(masks, rows[start:start + len(pick)]))
            chosen.append(masks[span, pick])
            if pred.low_res_logits is not None:
                lows.append(pred.low_res_logits.cpu()[torch.as_tensor(span), torch.as_tensor(pick)][:, None])
            pred_ious.append(piou)
            picks.append(pick)
        low = torch.cat(lows) if len(lows) == len(chosen) and lows else None
        return np.concatenate(chosen), np.concatenate(ious), np.concatenate(pred_ious), np.concatenate(picks), low

    def _decode_and_score(self, model, embedding, prompts: PromptBatch, multimask: bool, gts: "_DeviceTruth",
                          rows: Sequence[int]):
        """Decode, threshold, pick and score on the model's device; only what the next click needs comes back.

        Arguments:
          gts: the image's ground truth on the device; ``rows`` the ground-truth index of each prompt set.
        Returns:
          chosen masks (B, H, W) bool numpy (the highest predicted IoU with multimask, else the only
          one), IoU of every output (B, K) float64 numpy, predicted IoU (B, K) float32 numpy, the
          pick (B,) int, and the chosen low-res logits (B, 1, h, w) on the device, or None.
        """
        import torch

        timer = self.timer
        chosen, ious, pred_ious, picks, lows = [], [], [], [], []
        for start in range(0, len(prompts), self.max_batch):
            with timer.stage("decoder"):
                pred = model.decode(embedding, prompts.select(slice(start, start + self.max_batch)), multimask)
                masks, low_res, piou = pred.logits > model.mask_threshold, pred.low_res_logits, pred.iou_predictions
                del pred  # the full-resolution logits go now, before the next chunk's are made
                piou = piou.float().cpu().numpy()
                # the pick on the host, from the small (b, K) array: numpy's first-maximum rule, as before
                pick = np.argmax(piou, axis=1) if multimask else np.zeros(len(piou), dtype=np.int64)
                index = torch.as_tensor(pick, device=masks.device)
                span = torch.arange(len(pick), device=masks.device)
            with timer.stage("metric"):
                ious.append(gts.iou(masks, rows[start:start + len(pick)]))
            with timer.stage("decoder"):
                chosen.append(masks[span, index].cpu().numpy())
                if low_res is not None:
                    lows.append(low_res[span, index][:, None])
                del masks
            pred_ious.append(piou)
            picks.append(pick)
        low = torch.cat(lows) if len(lows) == len(chosen) and lows else None
        return np.concatenate(chosen), np.concatenate(ious), np.concatenate(pred_ious), np.concatenate(picks), low

    def process(self, model: PromptableModel, sample: Sample, embedding: ImageEmbedding,
                instances: Sequence[Instance], seed: int, dataset: str) -> List[Dict]:
        import torch  # here, not at import: reading results (sambench report) needs no torch

        timer = self.timer
        with timer.stage("metric"):
            gts = [inst.mask() for inst in instances]
            ignore = sample.ignore_mask(include_void=self.ignore_void)
            truth = _HostTruth(gts, ignore) if self.host_scoring else _DeviceTruth(gts, ignore, model.device)
        decode_and_score = self._decode_and_score_on_host if self.host_scoring else self._decode_and_score
        n = len(instances)
        with timer.stage("prompts"):
            rngs = [np.random.default_rng(stable_seed(seed, dataset, sample.image_id, inst.id)) for inst in instances]
            clicks: List[List[Click]] = [[c] for c in self._map(lambda gt, rng: first_point(gt, self.first_point_mode, rng),
                                                               gts, rngs)]
        targets = [inst.id for inst in instances]
        multimask = model.capabilities.multimask
        rows: List[Dict] = []
        current = [None] * n  # chosen mask per instance (host, bool)
        low_res: List[Optional[torch.Tensor]] = [None] * n  # chosen low-res logits (device)
        active = list(range(n))
        last_iou = [0.0] * n
        last_pred_iou = [float("nan")] * n
        for k in range(1, self.max_clicks + 1):
            if k > 1:
                with timer.stage("prompts"):
                    still = []
                    found = dict(zip(active, self._map(lambda b: next_click(gts[b], current[b], clicks[b], ignore), active)))
                    for b in range(n):
                        c = found.get(b)
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
            timer.count("prompts", len(active))
            chosen, ious, pred_ious, picks, low = decode_and_score(model, embedding, prompts, use_multi, truth, active)
            for j, b in enumerate(active):
                pick = int(picks[j])
                current[b] = chosen[j]
                if low is not None:
                    low_res[b] = low[j]
                last_iou[b] = float(ious[j, pick])
                last_pred_iou[b] = float(pred_ious[j, pick])
                oracle = float(ious[j].max()) if k == 1 else None
                rle = mask_utils.encode(current[b]) if k in self.mask_counts else None
                rows.append(self._row(instances[b], k, clicks[b][-1], last_iou[b], oracle, last_pred_iou[b], False, rle))
        return rows

    @staticmethod
    def _row(inst: Instance, k: int, click: Optional[Click], iou: float, oracle: Optional[float],
             pred_iou: float, no_error: bool, rle: Optional[dict] = None) -> Dict:
        return {"instance_id": inst.id, "area": inst.area, "n_clicks": k,
                "click_x": "" if click is None else click.x, "click_y": "" if click is None else click.y,
                "click_positive": "" if click is None else int(click.positive), "iou": f"{iou:.6f}",
                "iou_oracle": "" if oracle is None else f"{oracle:.6f}", "pred_iou": f"{pred_iou:.6f}",
                "no_error": int(no_error),
                "pred_rle": "" if rle is None else rle_field(rle)}

    def summarize(self, records: pd.DataFrame, done: List[Dict], config: Dict) -> Dict:
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
                **skip_summary(done, config, name),
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

    @staticmethod
    def report(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
        return report_point(runs, base, out)
