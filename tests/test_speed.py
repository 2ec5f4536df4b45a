"""Speed work that must not change a number: stage timings, the device-side point protocol, the
mask generator's IoU-first filtering, lazy imports, flat memory. No test here times anything;
speed itself is measured by benchmarks/ (ratios within one run)."""

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from sambench import masks as mask_utils
from sambench import timing as timing_mod
from sambench.app.runner import DatasetRun, run_task
from sambench.data import Instance, Sample
from sambench.datasets import build_dataset
from sambench.datasets.demo import generate_demo
from sambench.datasets.manifest import build_manifest
from sambench.generation.amg import AmgConfig, generate_masks
from sambench.models import build_model
from sambench.models.base import PromptableModel
from sambench.tasks.point import PointTask
from sambench.timing import StageTimer, format_timing, merge_reports


# ---------------------------------------------------------------------------------------------
# the stage timer
# ---------------------------------------------------------------------------------------------

def test_stage_timer_charges_each_second_to_the_innermost_stage(monkeypatch):
    clock = {"wall": 0.0, "cpu": 0.0}
    monkeypatch.setattr(timing_mod.time, "perf_counter", lambda: clock["wall"])
    monkeypatch.setattr(timing_mod.time, "process_time", lambda: clock["cpu"])

    def spend(wall, cpu):
        clock["wall"] += wall
        clock["cpu"] += cpu

    synced = []
    t = StageTimer(sync=lambda: synced.append(1))
    spend(1, 1)                       # before any stage: unstaged
    with t.stage("task"):
        spend(2, 1)
        with t.stage("decoder"):
            spend(5, 9)
        spend(3, 2)
        with t.stage("decoder"):
            spend(1, 1)
    t.add_background("read_decode_threads", 4.0, 3.5)
    t.count("images", 2)
    t.count("prompts", 30)
    r = t.report()
    assert r["stages"]["task"] == {"wall_s": 5.0, "cpu_s": 3.0, "calls": 1}
    assert r["stages"]["decoder"] == {"wall_s": 6.0, "cpu_s": 10.0, "calls": 2}
    assert r["wall_s"] == 12.0 and r["cpu_s"] == 14.0 and r["unstaged"] == {"wall_s": 1.0, "cpu_s": 1.0}
    assert r["background"]["read_decode_threads"] == {"wall_s": 4.0, "cpu_s": 3.5, "calls": 1}
    assert r["images_per_s"] == pytest.approx(2 / 12) and r["prompts_per_s"] == pytest.approx(30 / 12)
    assert list(r["stages"]) == ["decoder", "task"]  # report order follows timing.STAGES
    assert len(synced) == 6  # both boundaries of every stage
    line = format_timing(r)
    assert line.startswith("timing: 2 images in 12.0 s wall, 14.0 s CPU") and "decoder 50%" in line
    assert format_timing({**r, "resumed": True}).startswith("timing (this session of a resumed run): 2 images in")
    both = merge_reports([r, r])
    assert both["stages"]["decoder"]["wall_s"] == 12.0 and both["counters"]["prompts"] == 60


# ---------------------------------------------------------------------------------------------
# the point protocol: device path == host path, and every run records its timing
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_small(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-small")
    generate_demo(root, n_images=4, height=96, width=128, seed=3)
    return root


def _records(out: Path) -> str:
    return (out / "records" / "records-rank0.csv").read_text()


def test_point_records_identical_with_and_without_the_optimisations(tmp_path, demo_small, capsys):
    ds = build_dataset("demo", demo_small)
    manifest = build_manifest(ds, seed=0)
    model = build_model("sam-tiny", device="cpu")
    outs = {}
    for name, host, workers, threads in (("reference", True, 1, 1), ("fast", False, 3, 4)):
        outs[name] = tmp_path / name
        task = PointTask(points=[1, 2, 3], mask_input=True, host_scoring=host, save_masks="reported",
                         click_threads=threads)
        run_task(task, model, [DatasetRun(ds, manifest)], outs[name], progress=False, report=False,
                 loader_workers=workers)
    assert _records(outs["fast"]) == _records(outs["reference"])
    assert len(_records(outs["fast"]).splitlines()) > 3 * 8

    # where the time went: config (settings), timing file (per session), summary (aggregate), last line
    config = json.loads((outs["fast"] / "config.json").read_text())
    speed = config["speed"]
    assert speed["device"] == "cpu" and speed["dtype"] == "fp32" and speed["loader_workers"] == 3
    assert speed["images_per_batch"] == 1 and speed["decoder_max_batch"] == 64 and "allocator" in speed
    assert speed["click_threads"] == 4
    summary = json.loads((outs["fast"] / "summary.json").read_text())
    total = summary["timing"]["total"]
    assert {"read", "encoder", "decoder", "prompts", "metric", "task", "write"} <= set(total["stages"])
    for v in total["stages"].values():
        assert v["wall_s"] >= 0 and v["cpu_s"] >= 0 and v["calls"] >= 1
    n_images = len(manifest.entries)
    import pandas as pd

    rec = pd.read_csv(outs["fast"] / "records" / "records-rank0.csv")
    assert total["counters"] == {"images": n_images, "prompts": int((rec["no_error"] == 0).sum())}
    session = summary["timing"]["sessions"]["0"][0]
    assert session["settings"]["device"] == "cpu" and session["peak_rss_mib"] > 0
    assert session["images_per_s"] > 0 and session["prompts_per_s"] > 0
    assert session["background"]["read_decode_threads"]["calls"] == n_images
    assert capsys.readouterr().out.count(f"timing: {n_images} images in") == 2
    # the reference run has no device-side stages: its decoding is part of "task"
    ref = json.loads((outs["reference"] / "summary.json").read_text())["timing"]["total"]
    assert "decoder" not in ref["stages"] and ref["stages"]["task"]["calls"] == n_images


def _sample_with_ignore():
    h, w = 40, 56
    yy, xx = np.mgrid[:h, :w]
    a = (yy - 18) ** 2 + (xx - 20) ** 2 < 120
    b = (yy > 8) & (yy < 30) & (xx > 30) & (xx < 50)
    ignore = np.zeros((h, w), bool)
    ignore[:, 24:28] = True  # a band through the first object
    ignore[12:14, :] = True
    image = (np.random.default_rng(1).random((h, w, 3)) * 255).astype(np.uint8)
    void = np.zeros((h, w), bool)
    void[30:, :] = True  # void pixels: excluded only with ignore_void
    insts = [Instance(id="a", rle=mask_utils.encode(a)), Instance(id="b", rle=mask_utils.encode(b))]
    return Sample(image_id="s", height=h, width=w, instances=insts, loader=lambda: image,
                  ignore=mask_utils.encode(ignore), void=mask_utils.encode(void))


@pytest.mark.parametrize("model_name,args", [("sam-tiny", {}), ("oracle", {"keep": 0.7})])
def test_device_scoring_excludes_ignore_pixels_exactly_as_the_host_path(model_name, args):
    sample = _sample_with_ignore()
    model = build_model(model_name, **args)
    emb = model.encode(sample.image(), sample)
    for void in (False, True):
        rows = {}
        for host in (True, False):
            task = PointTask(points=[1, 2, 3, 5], first_point_mode="random", host_scoring=host, max_batch=1,
                             save_masks="reported", ignore_void=void)
            rows[host] = task.process(model, sample, emb, sample.instances, seed=4, dataset="x")
        assert rows[True] == rows[False] and len(rows[True]) == 2 * 5
        assert sum(bool(r["pred_rle"]) for r in rows[False]) == sum(not r["no_error"] and r["n_clicks"] != 4
                                                                   for r in rows[False])


# ---------------------------------------------------------------------------------------------
# the mask generator: IoU filter before any full-resolution work, outputs unchanged
# ---------------------------------------------------------------------------------------------

def sharpened_tiny_sam():
    """sam-tiny with logits scaled x5000 and predicted IoU shifted +0.9, so that the released
    generator's default filters (IoU 0.88, stability 0.95) keep some masks and drop others."""
    model = build_model("sam-tiny", device="cpu")
    with torch.no_grad():
        for mlp in model.sam.mask_decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(5000.0)
            mlp.layers[-1].bias.mul_(5000.0)
        model.sam.mask_decoder.iou_prediction_head.layers[-1].bias.add_(0.9)
    return model


class FullResolutionOnly(PromptableModel):
    """The same model without ``decode_low_res``: the generator upscales every mask (the old path)."""

    def __init__(self, inner):
        self.inner, self.name, self.capabilities = inner, inner.name, inner.capabilities
        self.mask_threshold, self.device = inner.mask_threshold, inner.device

    def encode(self, image, sample=None):
        return self.inner.encode(image, sample)

    def decode(self, embedding, prompts, multimask):
        return self.inner.decode(embedding, prompts, multimask)


def _same(a, b):
    return (a.rles == b.rles and a.counts == b.counts and np.array_equal(a.pred_iou, b.pred_iou)
            and np.array_equal(a.stability, b.stability) and np.array_equal(a.boxes, b.boxes))


def test_generator_filters_by_predicted_iou_first_with_identical_outputs(demo_small):
    from segment_anything import SamAutomaticMaskGenerator

    model = sharpened_tiny_sam()
    image = build_dataset("demo", demo_small).load_sample("1").image()
    emb = model.encode(image)
    upscaled = []
    real = model.upscale_logits
    model.upscale_logits = lambda e, low: upscaled.append(len(low)) or real(e, low)
    for cfg in (AmgConfig.segment_anything(points_per_side=12, box_nms_thresh=None),
                AmgConfig.segment_anything(points_per_side=12, points_per_batch=50),
                AmgConfig.proposals(points_per_side=12)):
        upscaled.clear()
        fast = generate_masks(model, emb, cfg)
        assert sum(upscaled) == fast.counts["after_pred_iou"]  # only the IoU filter's survivors are upscaled
        full = generate_masks(FullResolutionOnly(model), emb, cfg)
        assert _same(fast, full)
    default = AmgConfig.segment_anything(points_per_side=12, box_nms_thresh=None)
    c = generate_masks(model, emb, default).counts
    assert 0 < c["after_stability"] < c["after_pred_iou"] < c["generated"]  # both filters bite

    # and the released generator gives the same masks, scores and boxes (NMS off and on)
    for nms in (None, 0.7):
        ours = generate_masks(model, emb, AmgConfig.segment_anything(points_per_side=12, box_nms_thresh=nms))
        official = SamAutomaticMaskGenerator(model.sam, points_per_side=12, box_nms_thresh=1.0 if nms is None else nms,
                                             output_mode="coco_rle").generate(image)
        mine = ours.to_records()
        assert len(mine) == len(official) > 0
        if nms is None:  # ours keeps generation order without NMS; the released one sorts by predicted IoU
            mine = [mine[i] for i in np.argsort(-ours.pred_iou, kind="stable")]
        for m, o in zip(mine, official):
            assert m["segmentation"]["counts"] == o["segmentation"]["counts"]
            assert m["bbox"] == o["bbox"] and m["area"] == o["area"]
            assert m["predicted_iou"] == pytest.approx(o["predicted_iou"], abs=0)
            assert m["stability_score"] == pytest.approx(o["stability_score"], abs=1e-7)


# ---------------------------------------------------------------------------------------------
# commands import only what they use
# ---------------------------------------------------------------------------------------------

PROBE = """
import json, sys
from sambench.app.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*args):
    proc = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, MPLBACKEND="Agg"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["code"] == 0, proc.stderr[-2000:]
    return set(out["modules"])


def test_edges_eval_and_report_do_not_import_torch(tmp_path, demo_small):
    sys.path.insert(0, str(REPO / "tests" / "datasets"))
    import fixtures_a
    from PIL import Image

    root, _ = fixtures_a.write_bsds500(tmp_path / "bsds")
    pred = tmp_path / "pred"
    pred.mkdir()
    Image.fromarray(np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (12, 1))).save(pred / "100.png")
    heavy = {"torch", "segment_anything", "torchvision"}
    mods = _modules_after("edges-eval", "--pred", pred, "--root", root / "BSR" / "BSDS500", "--present-only",
                          "--thresholds", "5", "--nproc", "1")
    assert not heavy & mods, heavy & mods
    assert "sambench.metrics.bsds" in mods  # the probe saw the command's own imports

    run = tmp_path / "run"
    model = build_model("oracle")
    ds = build_dataset("demo", demo_small)
    run_task(PointTask(points=[1, 2]), model, [DatasetRun(ds, build_manifest(ds, seed=0))], run, progress=False,
             report=False)
    mods = _modules_after("report", run, "--out", tmp_path / "report")
    assert not heavy & mods, heavy & mods
    assert (tmp_path / "report" / "report.md").is_file() and "matplotlib" in mods


# ---------------------------------------------------------------------------------------------
# peak host memory does not grow with the number of images
# ---------------------------------------------------------------------------------------------

def _copies_of_one_image(root: Path, n: int) -> Path:
    """A COCO dataset of ``n`` identical images (one demo image and its masks, repeated): the
    working set per image is the same, so any growth with ``n`` is accumulation."""
    ann = generate_demo(root / "one", n_images=1, height=240, width=320, seed=5)
    data = json.loads(ann.read_text())
    src = root / "one" / "images" / data["images"][0]["file_name"]
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(1, n + 1):
        name = f"copy_{i:03d}.png"
        (root / "images" / name).write_bytes(src.read_bytes())
        images.append(dict(data["images"][0], id=i, file_name=name))
        anns += [dict(a, id=len(anns) + j + 1, image_id=i) for j, a in enumerate(data["annotations"])]
    (root / "instances.json").write_text(json.dumps(dict(data, images=images, annotations=anns)))
    return root


def _peak_traced(root: Path, out: Path) -> int:
    ds = build_dataset("coco", root / "images", ann=root / "instances.json")
    manifest = build_manifest(ds, seed=0)
    model = build_model("oracle", keep=0.8)
    task = PointTask(points=[1, 2, 3])
    tracemalloc.start()
    try:
        run_task(task, model, [DatasetRun(ds, manifest)], out, progress=False, report=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_of_a_run_is_flat_in_the_number_of_images(tmp_path):
    import pandas  # noqa: F401  (imports happen before tracing starts)

    peaks = {}
    for n in (3, 15):
        root = _copies_of_one_image(tmp_path / f"data{n}", n)
        _peak_traced(root, tmp_path / f"warm{n}")  # first run: lazy imports and caches
        peaks[n] = _peak_traced(root, tmp_path / f"run{n}")
    # one image's working set (oracle logits, masks, clicks) is several MiB; records are streamed
    assert peaks[3] > 2 * 2 ** 20
    assert peaks[15] < 1.1 * peaks[3], peaks


# ---------------------------------------------------------------------------------------------
# GPU knobs (run on CPU here): SDPA attention gives the official numbers up to rounding
# ---------------------------------------------------------------------------------------------

def test_sdpa_attention_matches_the_official_modules_and_is_recorded():
    from sambench.app.speed import apply_speed_options
    from sambench.models.base import PromptBatch

    official, fused = build_model("sam-tiny", device="cpu"), build_model("sam-tiny", device="cpu")
    with torch.no_grad():  # non-zero relative positions, so the encoder's bias term is exercised
        for m in (official, fused):
            g = torch.Generator().manual_seed(1)
            for blk in m.sam.image_encoder.blocks:
                blk.attn.rel_pos_h.copy_(torch.randn(blk.attn.rel_pos_h.shape, generator=g))
                blk.attn.rel_pos_w.copy_(torch.randn(blk.attn.rel_pos_w.shape, generator=g))
    apply_speed_options(fused, sdpa=True, images_per_batch=2)
    settings = fused.speed_settings()
    assert settings["attention"] == "sdpa" and settings["encoder_batch_size"] == 2
    assert settings["compiled_encoder"] is False and official.speed_settings()["attention"] == "official"
    image = (np.random.default_rng(0).random((90, 60, 3)) * 255).astype(np.uint8)
    ea, eb = official.encode(image), fused.encode(image)
    torch.testing.assert_close(eb.features, ea.features, atol=1e-4, rtol=1e-4)
    prompts = PromptBatch(point_coords=np.array([[[10.0, 10.0]], [[30.0, 50.0]]]), point_labels=np.ones((2, 1), int))
    pa, pb = official.decode(ea, prompts, True), fused.decode(ea, prompts, True)
    torch.testing.assert_close(pb.logits, pa.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(pb.iou_predictions, pa.iou_predictions, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="no --compile/--sdpa"):
        apply_speed_options(build_model("oracle"), sdpa=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_the_allocator_is_left_alone_under_an_address_space_limit():
    """The 2 GiB top pad reserves address space on every heap extension (a small run peaked at 7.2
    instead of 5.2 GB virtual): under ``ulimit -v`` glibc's defaults are kept, and said so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in ("SAMBENCH_MALLOC", "GLIBC_TUNABLES")}
    code = ("import resource, sys\n"
            "if sys.argv[1] == 'capped': resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))\n"
            "from sambench.app.speed import allocator_settings, tune_allocator\n"
            "print(tune_allocator(), allocator_settings()['mode'])\n")
    out = {mode: subprocess.run([sys.executable, "-c", code, mode], env=env, capture_output=True, text=True,
                                check=True).stdout.split() for mode in ("capped", "free")}
    assert out["capped"] == ["address-space", "limit", "address-space", "limit"]
    assert out["free"] == ["tuned", "tuned"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusals of a machine without CUDA")
def test_the_gpu_check_refuses_in_one_line_without_cuda_or_without_its_wheels(tmp_path):
    """``benchmarks/gpu_check.sh`` stops with exit 2 and says why: no CUDA (after checking that every
    package it needs imports), or a ``--wheels`` folder without wheels."""
    script = str(REPO / "benchmarks" / "gpu_check.sh")
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", script, "--out", str(tmp_path / "o")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and "no CUDA device visible to torch" in proc.stderr, proc.stderr[-500:]
    assert "gpu_check: sambench from" in proc.stdout  # the import check ran first and passed
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(["bash", script, "--out", str(tmp_path / "o"), "--wheels", str(tmp_path / "empty")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and f"no wheels in {tmp_path / 'empty'}" in proc.stderr
