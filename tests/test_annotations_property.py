"""Property-based tests: arbitrary malformed COCO annotation entries beside valid ones.

Whatever an annotation entry holds (missing keys, wrong types, NaN/inf, negative or huge
coordinates, duplicate ids, unknown image or category ids), the COCO reader and the point task end
in a counted skip (with a one-line reason) or a one-line error naming the file: never a traceback,
never a hang, and never a changed number for the valid masks beside them.
"""

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sambench import masks as mask_utils
from sambench.annotations import AnnotationDefect, annotation_rle

H, W = 48, 64
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # the DataWarnings these files rightly raise

numbers = st.one_of(
    st.integers(-(2 ** 40), 2 ** 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 5, 30, 47, 63, 64, 65, -1, 1e308, -1e308, 2.085e8, 3.52e8]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=4))
junk = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=2), scalars, max_size=2))
polygon = st.lists(numbers, max_size=12)
rle_dict = st.fixed_dictionaries({
    "size": st.one_of(st.just([H, W]), st.lists(numbers, max_size=3), scalars),
    "counts": st.one_of(st.text(max_size=8), st.lists(st.integers(-5, H * W + 5), max_size=6), st.just([H * W]),
                        st.just([100, H * W - 100]), scalars),
})
valid_square = st.builds(lambda x, y, d: [[x, y, x + d, y, x + d, y + d, x, y + d]],
                         st.integers(-10, W + 10), st.integers(-10, H + 10), st.integers(0, 30))
segmentation = st.one_of(scalars, polygon, st.lists(polygon, max_size=3), rle_dict, valid_square,
                         st.dictionaries(st.text(max_size=3), scalars, max_size=3))
annotation = st.one_of(
    scalars,
    st.lists(scalars, max_size=2),
    st.fixed_dictionaries({}, optional={
        "id": st.one_of(st.sampled_from([0, 1, 2, 3, "1"]), junk),  # duplicates of the valid ones' ids
        "image_id": st.one_of(st.sampled_from([1, 2, 3, 99, "1", "2"]), junk),  # 3 and 99: no such image
        "category_id": st.one_of(st.sampled_from([1, 7]), junk),  # 7: not in categories
        "segmentation": segmentation,
        "iscrowd": st.one_of(st.sampled_from([0, 1, True, False, None, "yes", 2, 0.5]), junk),
        "area": numbers,
        "bbox": st.lists(numbers, max_size=5),
    }),
)

# the valid masks: (image id, annotation id, rectangle); areas 96 and 300
VALID = [(1, 1, (4, 6, 16, 14)), (2, 2, (20, 10, 40, 25))]


def rect(x0, y0, x1, y1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def write(root: Path, extra_annotations) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in (1, 2):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
    anns = [{"id": aid, "image_id": img, "category_id": 1, "iscrowd": 0, "area": 1.0,
             "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]]} for img, aid, (x0, y0, x1, y1) in VALID]
    ann = root / "instances.json"
    ann.write_text(json.dumps({"images": [{"id": i, "file_name": f"{i}.png", "height": H, "width": W} for i in (1, 2)],
                               "annotations": anns + list(extra_annotations),
                               "categories": [{"id": 1, "name": "thing"}]}))
    return ann


def is_crowd(a) -> bool:
    """A valid crowd flag (never prompted, so never counted as a mask or a skip)."""
    v = a.get("iscrowd", 0) if isinstance(a, dict) else 0
    return isinstance(v, (bool, int, float)) and v == 1


def attached(a) -> bool:
    img = a.get("image_id") if isinstance(a, dict) else None
    return not isinstance(img, bool) and isinstance(img, (int, str)) and str(img) in ("1", "2")


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(seg=segmentation, crowd=st.one_of(st.none(), scalars))
def test_any_segmentation_is_a_mask_of_the_image_or_a_named_defect(seg, crowd):
    ann = {"segmentation": seg} if crowd is None else {"segmentation": seg, "iscrowd": crowd}
    try:
        rle = annotation_rle(ann, H, W)
    except AnnotationDefect as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert list(rle["size"]) == [H, W] and mask_utils.area(rle) > 0
    assert mask_utils.decode(rle).shape == (H, W)


@PROPERTY
@given(extra=st.lists(annotation, max_size=6))
def test_coco_reader_skips_only_the_bad_entries(extra):
    from sambench.datasets import build_dataset
    from sambench.datasets.base import DatasetLayoutError

    with tempfile.TemporaryDirectory() as tmp:
        ann = write(Path(tmp), extra)
        try:
            ds = build_dataset("coco", Path(tmp) / "images", ann=ann)
        except DatasetLayoutError as exc:  # allowed: one line naming the file
            assert str(ann) in str(exc) and "\n" not in str(exc)
            return
        n_attached = n_unattached = 0
        for image_id, aid, box in VALID:
            s = ds.load_sample(str(image_id))
            masks = [i.mask() for i in s.instances]
            assert any(np.array_equal(m, rect(*box)) for m in masks), "a valid mask changed or went missing"
            for d in s.skipped_annotations():
                assert d["reason"] and "\n" not in d["reason"]
            n_attached += len(s.instances) + len(s.skipped_annotations())
        n_unattached = ds.index.n_unattached
        assert n_attached + n_unattached == len(VALID) + len(extra)  # every entry is a mask or a listed skip
        assert n_unattached == sum(not attached(a) for a in extra)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=st.lists(annotation, min_size=1, max_size=5))
def test_point_task_numbers_of_valid_masks_never_change(extra):
    """Oracle keep=0.5: every evaluated mask's IoU is exactly floor(area/2)/area, the two valid masks
    are among them, and masks evaluated + masks skipped = every non-crowd annotation of the file."""
    from sambench.app.runner import DatasetRun, run_task
    from sambench.datasets import build_dataset
    from sambench.datasets.base import DatasetLayoutError
    from sambench.datasets.manifest import build_manifest
    from sambench.models.oracle import Oracle
    from sambench.tasks.point import PointTask

    with tempfile.TemporaryDirectory() as tmp:
        ann = write(Path(tmp), extra)
        try:
            ds = build_dataset("coco", Path(tmp) / "images", ann=ann)
        except DatasetLayoutError as exc:
            assert str(ann) in str(exc) and "\n" not in str(exc)
            return
        out = Path(tmp) / "run"
        summary = run_task(PointTask(points=[1]), Oracle(keep=0.5), [DatasetRun(ds, build_manifest(ds))], out,
                           progress=False, report=False)
        s = summary["datasets"]["coco"]
        rec = pd.read_csv(out / "records" / "records-rank0.csv")
        expected = np.floor(0.5 * rec["area"]) / rec["area"]
        assert np.allclose(rec["iou"], expected, atol=1e-6, rtol=0)
        for _, _, (x0, y0, x1, y1) in VALID:
            area = (x1 - x0) * (y1 - y0)
            assert ((rec["area"] == area) & np.isclose(rec["iou"], math.floor(area / 2) / area, atol=1e-6)).any()
        all_anns = [{"iscrowd": 0}] * len(VALID) + list(extra)
        counted = sum(not is_crowd(a) for a in all_anns)
        assert s["n_masks"] + s["n_skipped"] == counted
        assert s["n_images_skipped"] == 0
        for e in s["skipped"]:
            assert e["reason"] and "\n" not in e["reason"]


@settings(max_examples=30, deadline=None)
@given(top=st.one_of(scalars, st.lists(scalars, max_size=3),
                     st.fixed_dictionaries({}, optional={"images": st.one_of(scalars, st.lists(scalars, max_size=2)),
                                                         "annotations": st.one_of(scalars, st.lists(annotation, max_size=2)),
                                                         "categories": st.one_of(scalars, st.lists(scalars, max_size=2))})))
def test_malformed_files_are_one_line_errors_naming_the_file(top):
    from sambench.datasets import build_dataset
    from sambench.datasets.base import DatasetLayoutError

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "images").mkdir()
        ann = Path(tmp) / "instances.json"
        ann.write_text(json.dumps(top))
        try:
            ds = build_dataset("coco", Path(tmp) / "images", ann=ann)
        except DatasetLayoutError as exc:
            assert str(ann) in str(exc) and "\n" not in str(exc)
            return
        for image_id in ds.image_ids():  # the few valid-looking structures that pass: every sample loads or is a BadSample
            list(ds.samples([image_id]))
