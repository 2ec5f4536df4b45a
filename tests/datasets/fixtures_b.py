"""Tiny fixtures in each dataset's native format for tests/datasets/test_adapters_b.py.

Every writer takes an empty folder, writes a miniature copy of the release there and returns a
``Fixture``: the adapter name, the root (and ``--ann``/split where needed), the expected masks per
image id and instance id (pixel-exact, known by construction: rectangles), and the image ids that
must come back as BadSample with a word their reason must contain. Images are a few dozen pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
from PIL import Image

from sambench import masks as mask_utils

H, W = 24, 32  # every fixture image


@dataclass
class Fixture:
    name: str
    root: Path
    expected: Dict[str, Dict[str, np.ndarray]]
    bad: Dict[str, str] = field(default_factory=dict)  # image id -> word expected in the reason
    ann: Optional[Path] = None
    split: Optional[str] = None
    ignore: Dict[str, np.ndarray] = field(default_factory=dict)  # image id -> expected ignore mask
    void: Dict[str, np.ndarray] = field(default_factory=dict)  # image id -> expected void mask (Sample.void)
    absent: List[str] = field(default_factory=list)  # ids that must not be listed
    defects: Dict[str, Dict[str, str]] = field(default_factory=dict)  # image id -> {skipped annotation id: word}


def rect(x0: int, y0: int, x1: int, y1: int, h: int = H, w: int = W) -> np.ndarray:
    """Pixels x0..x1-1, y0..y1-1: the mask of the COCO polygon with corners (x0, y0), (x1, y1)."""
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def rect_poly(x0, y0, x1, y1) -> List[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def rect_points(x0, y0, x1, y1) -> List[List[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def write_image(path: Path, h: int = H, w: int = W, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def write_junk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00not a real file\xff" * 3)
    return path


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE (counts list, column-major, starting with a run of zeros)."""
    flat = mask.flatten(order="F").astype(np.uint8)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


# ---------------------------------------------------------------------------------------------
# COCO-json releases
# ---------------------------------------------------------------------------------------------

def write_coco(json_path: Path, images_dir: Path, images: List[tuple], start_id: int = 1) -> None:
    """images: [(file_name, [(ann_id, segmentation), ...], write_image?)]."""
    imgs, anns = [], []
    for k, (file_name, ann_list, kind) in enumerate(images):
        image_id = start_id + k
        imgs.append({"id": image_id, "file_name": file_name, "height": H, "width": W})
        if kind == "ok":
            write_image(images_dir / file_name, seed=image_id)
        elif kind == "junk":
            write_junk(images_dir / file_name)
        for ann_id, seg in ann_list:
            anns.append({"id": ann_id, "image_id": image_id, "category_id": 1, "segmentation": seg,
                         "iscrowd": 0, "area": 0, "bbox": [0, 0, 1, 1]})
    write_json(json_path, {"info": {}, "images": imgs, "annotations": anns,
                           "categories": [{"id": 1, "name": "thing"}]})


def coco_content(prefix: str, ext: str = ".jpg"):
    """Standard content: 2 good images, 1 with a corrupt segmentation (that annotation is skipped, the
    image is not), 1 corrupt image file, 1 missing.

    Returns (images spec for write_coco, expected, bad, defects) with ids = file stems.
    """
    a, b = f"{prefix}a", f"{prefix}b"
    compressed = mask_utils.encode(rect(20, 2, 30, 9))
    images = [
        (f"{a}{ext}", [(10, [rect_poly(2, 3, 8, 7)]), (11, compressed)], "ok"),
        (f"{b}{ext}", [(12, [rect_poly(0, 0, 5, 5), rect_poly(10, 10, 12, 20)]),
                       (13, uncompressed_rle(rect(15, 15, 31, 23)))], "ok"),
        (f"{prefix}badseg{ext}", [(14, "not a segmentation")], "ok"),
        (f"{prefix}badimg{ext}", [(15, [rect_poly(1, 1, 4, 4)])], "junk"),
        (f"{prefix}gone{ext}", [(16, [rect_poly(1, 1, 4, 4)])], "none"),
    ]
    expected = {
        a: {"10": rect(2, 3, 8, 7), "11": rect(20, 2, 30, 9)},
        b: {"12": rect(0, 0, 5, 5) | rect(10, 10, 12, 20), "13": rect(15, 15, 31, 23)},
        f"{prefix}badseg": {},
    }
    bad = {f"{prefix}badimg": "unreadable", f"{prefix}gone": "missing"}
    return images, expected, bad, {f"{prefix}badseg": {"14": "segmentation of type str"}}


def fx_zerowaste(tmp: Path) -> Fixture:
    base = tmp / "splits_final_deblurred" / "train"
    images, expected, bad, defects = coco_content("zw_", ".PNG")
    write_coco(base / "labels.json", base / "data", images)
    (base / "sem_seg").mkdir()
    return Fixture("zerowaste", tmp, expected, bad, defects=defects)


def fx_pidray(tmp: Path) -> Fixture:
    images, expected, bad, defects = coco_content("xray_", ".png")
    write_coco(tmp / "annotations" / "xray_test_hard.json", tmp / "hard", images)
    write_coco(tmp / "annotations" / "xray_test_easy.json", tmp / "easy", [("other.png", [], "ok")])
    return Fixture("pidray", tmp, expected, bad, defects=defects, absent=["other"])


def fx_trashcan(tmp: Path) -> Fixture:
    base = tmp / "instance_version"
    images, expected, bad, defects = coco_content("vid_000001_frame")
    write_coco(base / "instances_train_trashcan.json", base / "train", images)
    write_coco(base / "instances_val_trashcan.json", base / "val", [("valimg.jpg", [], "ok")])
    return Fixture("trashcan", tmp, expected, bad, defects=defects, absent=["valimg"])


def fx_plittersdorf(tmp: Path) -> Fixture:
    images, expected, bad, defects = coco_content("v1_")
    write_coco(tmp / "train.json", tmp / "images", images[:3])
    write_coco(tmp / "val.json", tmp / "images", images[3:], start_id=1)  # ids restart per file
    write_coco(tmp / "test.json", tmp / "images", [("v9_000.jpg", [(1, [rect_poly(4, 4, 9, 6)])], "ok")])
    (tmp / "images" / "v1_a.exr").write_bytes(b"disparity")
    expected["v9_000"] = {"1": rect(4, 4, 9, 6)}
    return Fixture("plittersdorf", tmp, expected, bad, defects=defects)


def fx_streets(tmp: Path) -> Fixture:
    base = tmp / "vehicleannotations"
    images, expected, bad, defects = coco_content("cam12_")
    # file names carry a folder prefix that does not exist on disk: resolved by basename
    images = [(f"some/where/{f}", a, k) for f, a, k in images]
    imgs_dir = base / "images"
    spec = []
    for f, a, k in images:
        name = f.rsplit("/", 1)[1]
        if k == "ok":
            write_image(imgs_dir / name, seed=len(spec) + 1)
        elif k == "junk":
            write_junk(imgs_dir / name)
        spec.append((f, a, "none"))
    write_coco(base / "annotations" / "vehicles.json", imgs_dir, spec)
    write_json(base / "README.json", {"note": "not a coco file"})
    expected = {f"some/where/{k}": v for k, v in expected.items()}
    bad = {f"some/where/{k}": v for k, v in bad.items()}
    defects = {f"some/where/{k}": v for k, v in defects.items()}
    return Fixture("streets", tmp, expected, bad, defects=defects)


def fx_ndispark(tmp: Path) -> Fixture:
    images, expected, bad, defects = coco_content("69_15315")
    write_coco(tmp / "train" / "annotations.json", tmp / "train" / "images", images)
    write_coco(tmp / "validation" / "annotations.json", tmp / "validation" / "images", [("night.jpg", [], "ok")])
    return Fixture("ndispark", tmp, expected, bad, defects=defects, absent=["night"])


def fx_ibd(tmp: Path) -> Fixture:
    base = tmp / "2D"
    images, expected, bad, defects = coco_content("roof_")
    write_coco(base / "annotations" / "instances_train.json", base / "images", images)
    write_coco(base / "annotations" / "instances_val.json", base / "images", [("valroof.jpg", [], "ok")])
    return Fixture("ibd", tmp, expected, bad, defects=defects, absent=["valroof"])


# ---------------------------------------------------------------------------------------------
# label maps, per-image json, video json, hdf5
# ---------------------------------------------------------------------------------------------

def fx_ishape(tmp: Path) -> Fixture:
    expected, bad = {}, {}
    for k, sub in enumerate(("antenna", "branch", "fence", "hanger", "log", "wire")):
        base = tmp / sub / "val"
        write_image(base / "image" / f"{sub}_0.jpg", seed=k)
        inst = np.zeros((H, W), dtype=np.uint16)
        inst[rect(0, 0, 4, 4)] = 500  # below 1000: background
        inst[rect(5, 5, 10, 12)] = 1001
        two = rect(12, 1, 15, 6) | rect(20, 10, 30, 20)  # one instance, two components
        inst[two] = 3007
        (base / "instance_map").mkdir(parents=True, exist_ok=True)
        Image.fromarray(inst).save(base / "instance_map" / f"{sub}_0.png")
        expected[f"{sub}/{sub}_0"] = {"1001": rect(5, 5, 10, 12), "3007": two}
    write_image(tmp / "wire" / "val" / "image" / "broken.jpg")
    write_junk(tmp / "wire" / "val" / "instance_map" / "broken.png")
    write_image(tmp / "log" / "val" / "image" / "nomap.jpg")
    bad = {"wire/broken": "unreadable", "log/nomap": "instance_map"}
    return Fixture("ishape", tmp, expected, bad)


def fx_ovis(tmp: Path) -> Fixture:
    names = [f"vid1/img_000000{i}.jpg" for i in (1, 2, 3)]
    for i, n in enumerate(names):
        write_image(tmp / "train" / n, seed=i)
    m1, m3 = rect(3, 4, 9, 10), rect(10, 2, 20, 22)
    other = rect(0, 20, 32, 24)
    anns = [
        {"id": 5, "video_id": 1, "category_id": 2, "iscrowd": 0,
         "segmentations": [uncompressed_rle(m1), None, mask_utils.encode(m3)]},
        {"id": 6, "video_id": 1, "category_id": 3, "iscrowd": 0, "segmentations": [None, None, None]},
        {"id": 7, "video_id": 1, "category_id": 3, "iscrowd": 0,
         "segmentations": [None, None, mask_utils.encode(other)]},
        {"id": 8, "video_id": 2, "category_id": 3, "iscrowd": 0, "segmentations": ["garbage"]},
    ]
    write_image(tmp / "train" / "vid2" / "img_0000001.jpg")
    write_json(tmp / "annotations_train.json", {
        "videos": [{"id": 1, "file_names": names, "height": H, "width": W, "length": 3},
                   {"id": 2, "file_names": ["vid2/img_0000001.jpg"], "height": H, "width": W, "length": 1}],
        "annotations": anns,
        "categories": [{"id": 2, "name": "cat"}, {"id": 3, "name": "dog"}],
    })
    expected = {"vid1/img_0000001": {"5": m1}, "vid1/img_0000003": {"5": m3, "7": other}, "vid2/img_0000001": {}}
    return Fixture("ovis", tmp, expected, {}, absent=["vid1/img_0000002"],
                   defects={"vid2/img_0000001": {"8": "segmentation of type str"}})


def _h5(path: Path, arr: np.ndarray) -> None:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("dataset", data=arr)


def fx_hypersim(tmp: Path) -> Fixture:
    scene = tmp / "ai_001_001" / "images"
    inst = np.full((H, W), -1, dtype=np.int32)
    inst[rect(0, 0, 10, 24)] = 0
    inst[rect(12, 3, 20, 9)] = 3
    sem = np.full((H, W), -1, dtype=np.int32)
    sem[rect(0, 0, 10, 24)] = 1
    sem[rect(12, 3, 20, 9)] = 5
    sem[rect(12, 3, 14, 4)] = 7  # minority label inside instance 3
    _h5(scene / "scene_cam_00_geometry_hdf5" / "frame.0000.semantic_instance.hdf5", inst)
    _h5(scene / "scene_cam_00_geometry_hdf5" / "frame.0000.semantic.hdf5", sem)
    write_image(scene / "scene_cam_00_final_preview" / "frame.0000.tonemap.jpg")
    write_image(scene / "scene_cam_00_final_preview" / "frame.0000.color.jpg", seed=3)
    inst1 = np.full((H, W), -1, dtype=np.int32)
    inst1[rect(5, 5, 6, 6)] = 12
    _h5(scene / "scene_cam_01_geometry_hdf5" / "frame.0001.semantic_instance.hdf5", inst1)
    write_image(scene / "scene_cam_01_final_preview" / "frame.0001.color.jpg")  # fallback to color.jpg
    write_junk(scene / "scene_cam_01_geometry_hdf5" / "frame.0002.semantic_instance.hdf5")
    write_image(scene / "scene_cam_01_final_preview" / "frame.0002.tonemap.jpg")
    _h5(scene / "scene_cam_01_geometry_hdf5" / "frame.0003.semantic_instance.hdf5", inst1)  # no image
    for excluded in ("ai_020_001", "ai_056_001"):
        ex = tmp / excluded / "images"
        _h5(ex / "scene_cam_00_geometry_hdf5" / "frame.0000.semantic_instance.hdf5", inst1)
        write_image(ex / "scene_cam_00_final_preview" / "frame.0000.tonemap.jpg")
    expected = {"ai_001_001/cam_00/frame.0000": {"0": rect(0, 0, 10, 24), "3": rect(12, 3, 20, 9)},
                "ai_001_001/cam_01/frame.0001": {"12": rect(5, 5, 6, 6)}}
    bad = {"ai_001_001/cam_01/frame.0002": "HDF5", "ai_001_001/cam_01/frame.0003": "final_preview"}
    return Fixture("hypersim", tmp, expected, bad,
                   absent=["ai_020_001/cam_00/frame.0000", "ai_056_001/cam_00/frame.0000"])


def fx_visor(tmp: Path) -> Fixture:
    base = tmp / "GroundTruth-SparseAnnotations"
    f1, f2, f3 = (f"P01_01_frame_000000000{i}.jpg" for i in (1, 2, 3))
    for i, f in enumerate((f1, f2, f3)):
        write_image(base / "rgb_frames" / "val" / "P01_01" / f, seed=i)
    data = {"video_annotations": [
        {"image": {"name": f1, "video": "P01_01", "subsequence": "P01_01_seq_00001", "image_path": f"P01_01/{f1}"},
         "annotations": [
             {"id": "a1", "name": "left hand", "class_id": 300,
              "segments": [rect_points(1, 1, 6, 8), rect_points(20, 3, 25, 5)]},
             {"id": "a2", "name": "knife", "class_id": 7, "segments": [rect_points(8, 10, 18, 20)]},
             {"id": "a3", "name": "empty", "class_id": 9, "segments": [[]]},
         ]},
        {"image": {"name": f2, "video": "P01_01", "subsequence": "P01_01_seq_00001"},
         "annotations": [{"id": "b1", "name": "right hand", "class_id": 301, "segments": [[[3]]]}]},
        {"image": {"name": f3, "video": "P01_01", "subsequence": "P01_01_seq_00002"},
         "annotations": [{"id": "c1", "name": "cup", "class_id": 4, "segments": [rect_points(0, 0, 32, 24)]}]},
    ]}
    write_json(base / "annotations" / "val" / "P01_01.json", data)
    write_junk(base / "annotations" / "val" / "P02_03.json")
    expected = {"P01_01/P01_01_frame_0000000001": {"a1": rect(1, 1, 6, 8) | rect(20, 3, 25, 5),
                                                     "a2": rect(8, 10, 18, 20)},
                "P01_01/P01_01_frame_0000000002": {},
                "P01_01/P01_01_frame_0000000003": {"c1": rect(0, 0, 32, 24)}}
    bad = {"P02_03": "json"}
    defects = {"P01_01/P01_01_frame_0000000001": {"a3": "zero-area"},
               "P01_01/P01_01_frame_0000000002": {"b1": "polygon point"}}
    return Fixture("visor", tmp, expected, bad, defects=defects)  # root = parent of GroundTruth-SparseAnnotations


def fx_egohos(tmp: Path) -> Fixture:
    expected = {}
    for k, name in enumerate(("ego4d_0001", "thu_0002", "epic_0003", "escape_0004", "thu_bad", "ego4d_noimg")):
        lab = np.zeros((H, W), dtype=np.uint8)
        lab[rect(0, 0, 5, 5)] = 1
        lab[rect(25, 0, 32, 6)] = 2
        lab[rect(10, 10, 20, 20)] = 4
        if name == "thu_bad":
            lab[0, 31] = 9
        if name != "ego4d_noimg":
            write_image(tmp / "train" / "image" / f"{name}.jpg", seed=k)
        (tmp / "train" / "label").mkdir(parents=True, exist_ok=True)
        Image.fromarray(lab).save(tmp / "train" / "label" / f"{name}.png")
        if name in ("ego4d_0001", "thu_0002"):
            expected[name] = {"1": rect(0, 0, 5, 5), "2": rect(25, 0, 32, 6), "4": rect(10, 10, 20, 20)}
    return Fixture("egohos", tmp, expected, {"thu_bad": "label values", "ego4d_noimg": "no image"},
                   absent=["epic_0003", "escape_0004"])


def fx_woodscape(tmp: Path) -> Fixture:
    write_image(tmp / "rgb_images" / "00001_FV.png")
    road, car = rect(0, 10, 32, 24), rect(5, 8, 15, 16)
    piece1, piece2 = rect(20, 0, 24, 4), rect(26, 0, 30, 4)
    entries = [
        {"id": 1, "tags": ["road"], "segmentation": rect_points(0, 10, 32, 24), "z_order": 0},
        {"id": 2, "tags": ["car"], "segmentation": rect_points(5, 8, 15, 16), "z_order": 3},
        {"id": 3, "tags": ["person"], "segmentation": rect_points(20, 0, 24, 4), "z_order": 1, "group_id": 7},
        {"id": 4, "tags": ["person"], "segmentation": rect_points(26, 0, 30, 4), "z_order": 1, "group_id": 7},
        {"id": 5, "tags": [], "segmentation": rect_points(0, 0, 3, 3), "z_order": 9},
        {"id": 6, "tags": ["curb"], "segmentation": rect_points(6, 9, 8, 11), "z_order": 2},  # under the car
    ]
    write_json(tmp / "instance_annotations" / "00001_FV.json",
               {"00001_FV.png": {"image_width": W, "image_height": H, "image_channels": 3, "annotation": entries}})
    write_image(tmp / "rgb_images" / "00002_RV.png", seed=2)
    write_junk(tmp / "instance_annotations" / "00002_RV.json")
    write_json(tmp / "instance_annotations" / "00003_MVL.json",
               {"00003_MVL.png": {"image_width": W, "image_height": H, "annotation": []}})
    expected = {"00001_FV": {"1": road & ~car, "2": car, "3": piece1 | piece2}}
    return Fixture("woodscape", tmp, expected, {"00002_RV": "json", "00003_MVL": "no image"})


def _palette_png(path: Path, lab: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(lab.astype(np.uint8), mode="P")
    im.putpalette([v for i in range(256) for v in (i, (i * 7) % 256, (i * 13) % 256)])
    im.save(path)


def dram_label() -> np.ndarray:
    lab = np.zeros((H, W), dtype=np.uint8)
    lab[rect(1, 1, 6, 10)] = 15
    lab[rect(20, 12, 30, 22)] = 15  # a second person: same class
    lab[rect(8, 14, 14, 20)] = 8
    lab[rect(0, 22, 32, 24)] = 255  # void band
    return lab


def fx_dram(tmp: Path) -> Fixture:
    write_image(tmp / "test" / "realism" / "p1.jpg")
    _palette_png(tmp / "labels" / "realism" / "p1.png", dram_label())
    write_image(tmp / "test" / "expressionism" / "p2.jpg", seed=1)
    bad_lab = dram_label()
    bad_lab[0, 0] = 77
    _palette_png(tmp / "labels" / "expressionism" / "p2.png", bad_lab)
    write_image(tmp / "test" / "expressionism" / "p3.jpg", seed=2)  # no label
    expected = {"realism/p1": {"15": rect(1, 1, 6, 10) | rect(20, 12, 30, 22), "8": rect(8, 14, 14, 20)}}
    return Fixture("dram", tmp, expected, {"expressionism/p2": "VOC", "expressionism/p3": "label"},
                   void={"realism/p1": rect(0, 22, 32, 24)})


def fx_gtea(tmp: Path) -> Fixture:
    write_image(tmp / "GTEA" / "Images" / "S1_Cheese_C1_00001.jpg")
    m = np.zeros((H, W), dtype=np.uint8)
    m[rect(2, 12, 10, 24)] = 255
    m[rect(20, 14, 30, 24)] = 255
    m[0, 16] = 40  # faint noise below the threshold
    (tmp / "GTEA" / "Masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(m).save(tmp / "GTEA" / "Masks" / "S1_Cheese_C1_00001.png")
    write_image(tmp / "GTEA" / "Images" / "S2_Tea_C1_00002.jpg", seed=1)
    Image.fromarray(np.zeros((H + 1, W), dtype=np.uint8)).save(tmp / "GTEA" / "Masks" / "S2_Tea_C1_00002.png")
    write_image(tmp / "GTEA_GAZE_PLUS" / "Images" / "Ahmad_Pizza" / "0001.jpg")
    (tmp / "GTEA_GAZE_PLUS" / "Masks" / "Ahmad_Pizza").mkdir(parents=True, exist_ok=True)
    Image.fromarray(m).save(tmp / "GTEA_GAZE_PLUS" / "Masks" / "Ahmad_Pizza" / "0001.png")
    expected = {"GTEA/S1_Cheese_C1_00001": {"1": rect(2, 12, 10, 24), "2": rect(20, 14, 30, 24)}}
    return Fixture("gtea", tmp, expected, {"GTEA/S2_Tea_C1_00002": "mask is"},
                   absent=["GTEA_GAZE_PLUS/Ahmad_Pizza/0001"])


FIXTURES: Dict[str, Callable[[Path], Fixture]] = {
    "streets": fx_streets, "zerowaste": fx_zerowaste, "ishape": fx_ishape, "ovis": fx_ovis,
    "hypersim": fx_hypersim, "ndispark": fx_ndispark, "visor": fx_visor, "plittersdorf": fx_plittersdorf,
    "egohos": fx_egohos, "ibd": fx_ibd, "woodscape": fx_woodscape, "pidray": fx_pidray, "dram": fx_dram,
    "trashcan": fx_trashcan, "gtea": fx_gtea,
}
