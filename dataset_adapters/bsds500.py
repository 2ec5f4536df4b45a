"""BSDS500 (Berkeley Segmentation Data Set 500): the edge-detection benchmark of the paper's §7.2.

Release: ``BSR_bsds500.tgz`` from the Berkeley Computer Vision Group
(https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html), which unpacks
to ``BSR/BSDS500/data``. Research use. Cite Arbelaez, Maire, Fowlkes, Malik, TPAMI 2011.

Layout under ``--root`` (``BSR/``, ``BSR/BSDS500``, ``BSR/BSDS500/data`` are all accepted)::

    images/{train,val,test}/<id>.jpg            481x321 or 321x481
    groundTruth/{train,val,test}/<id>.mat       MATLAB v5: groundTruth = 1xK cell (K = 4..9 annotators),
                                                each a struct with Segmentation (uint16 labels from 1)
                                                and Boundaries (uint8 0/1); Boundaries alone is
                                                accepted (all the official benchmark reads)

Split: ``test`` by default (the paper evaluates edge detection on the 200 test images).
Instances: every segment of every annotator, id ``a<k>_s<label>`` (annotators counted from 0),
``extra = {"annotator": k, "segment": label}``; segments of different annotators overlap, so these
are not one partition. The edge task needs the human boundary maps: ``Sample.extra["boundaries"]``
is an ``RLEList`` (a list of HxW boolean arrays decoded on access), one per annotator in file order.
A ``.mat`` that cannot be read, or whose maps do not match the image size, makes a BadSample.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, RLEList, drop_empty, encode_label_map, image_loader, image_size


def read_bsds_mat(path: Path) -> List[dict]:
    """Read one BSDS ground-truth file as a list (one per annotator) of {"segmentation", "boundaries"}.

    ``Boundaries`` is required (the official benchmark reads only ``groundTruth{i}.Boundaries``);
    ``Segmentation`` is optional (home-made ground truth often has none): ``"segmentation"`` is then
    None and that annotator contributes boundaries but no segments.
    """
    from scipy.io import loadmat

    try:
        cells = loadmat(str(path))["groundTruth"]
        out = []
        for k in range(cells.size):
            entry = cells.flat[k]
            names = entry.dtype.names or ()
            if "Boundaries" not in names:
                raise BadSampleError(f"{path}: annotator {k} has no Boundaries field (fields: {', '.join(names) or 'none'}); "
                                     f"the benchmark reads groundTruth{{i}}.Boundaries")
            bnd = np.asarray(entry["Boundaries"][0, 0]).astype(bool)
            seg = np.asarray(entry["Segmentation"][0, 0]) if "Segmentation" in names else None
            out.append({"segmentation": seg, "boundaries": bnd})
    except BadSampleError:
        raise
    except Exception as exc:
        raise BadSampleError(f"{path}: unreadable BSDS ground truth ({type(exc).__name__}: {exc})") from exc
    if not out:
        raise BadSampleError(f"{path}: no annotator in groundTruth")
    return out


@DATASETS.register("bsds500")
class BSDS500(DatasetAdapter):
    """BSDS500 images with all annotators' segments and boundary maps (edge task)"""

    title = "Berkeley Segmentation Data Set 500 (BSDS500)"
    domain = "Scenes (edge detection)"
    mask_type = "segments + boundaries (all annotators)"
    split = "test"
    paper_split = "Test"
    splits = ("test", "val", "train")
    folder_names = ("bsds500", "bsds", "bsr")
    layout = "ROOT/images/<split>/<id>.jpg and ROOT/groundTruth/<split>/<id>.mat (ROOT = BSR/BSDS500/data)"
    source = "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html (BSR_bsds500.tgz)"
    license = "research use"
    citation = "Arbelaez, Maire, Fowlkes, Malik, Contour detection and hierarchical image segmentation, TPAMI 2011"
    paper_images = 200
    paper_masks = None

    def check_layout(self) -> None:
        for base in (self.root, self.root / "data", self.root / "BSDS500" / "data", self.root / "BSR" / "BSDS500" / "data"):
            if (base / "images").is_dir() and (base / "groundTruth").is_dir():
                break
        else:
            raise self.missing(self.root / "images", "images/ and groundTruth/")
        self.base = base
        for sub in ("images", "groundTruth"):
            if not (base / sub / self.split).is_dir():
                raise self.missing(base / sub / self.split, f"{sub}/{self.split}/")
        self._images = {p.stem: p for p in sorted((base / "images" / self.split).glob("*.jpg"))}

    def image_ids(self) -> List[str]:
        return sorted(self._images, key=lambda s: (len(s), s))

    def load_sample(self, image_id: str) -> Sample:
        path = self._images[image_id]
        h, w = image_size(path)
        mat = self.base / "groundTruth" / self.split / f"{image_id}.mat"
        if not mat.is_file():
            raise BadSampleError(f"{mat}: ground truth missing")
        annotators = read_bsds_mat(mat)
        instances: List[Instance] = []
        boundaries = []
        for k, ann in enumerate(annotators):
            seg, bnd = ann["segmentation"], ann["boundaries"]
            for what, arr in (("Boundaries", bnd), ("Segmentation", seg)):
                if arr is not None and arr.shape != (h, w):
                    raise BadSampleError(f"{mat}: annotator {k} {what} has shape {tuple(arr.shape)}, the image "
                                         f"is {h}x{w} (rows x columns)")
            boundaries.append(mask_utils.encode(bnd))
            if seg is None:
                continue
            labels = np.flatnonzero(np.bincount(seg.ravel().astype(np.int64)))
            labels = labels[labels != 0]
            labels = [int(v) for v in labels]
            rles = encode_label_map(seg, labels)
            for v, rle in zip(labels, rles):
                instances.append(Instance(id=f"a{k}_s{v}", rle=rle, extra={"annotator": k, "segment": v}))
        kept, dropped = drop_empty(instances)
        extra = {"boundaries": RLEList(boundaries), "n_annotators": len(annotators)}
        if dropped:
            extra["zero_area"] = dropped
        return Sample(image_id=image_id, height=h, width=w, instances=kept, loader=image_loader(path),
                      image_path=path, extra=extra)
