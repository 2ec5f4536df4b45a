"""RefCOCO, RefCOCO+ and RefCOCOg: referring expressions for objects of COCO train2014 images.

Release: the refer API's cleaned data (Licheng Yu, https://github.com/lichengunc/refer):
``refcoco.zip``, ``refcoco+.zip``, ``refcocog.zip``, each holding ``instances.json`` (COCO-style
``images``, ``annotations`` with polygon ``segmentation``, ``categories``) and the refs pickle
(``refs(unc).p`` for RefCOCO / RefCOCO+, ``refs(umd).p`` for RefCOCOg's UMD split), plus the COCO
2014 train images (``train2014.zip`` from https://cocodataset.org). Cite Kazemzadeh et al.,
ReferItGame, EMNLP 2014 and Yu et al., Modeling context in referring expressions, ECCV 2016
(RefCOCO, RefCOCO+); Mao et al., Generation and comprehension of unambiguous object descriptions,
CVPR 2016 and Nagaraja et al., Modeling context between objects for referring expression
understanding, ECCV 2016 (RefCOCOg, UMD split). Annotations CC BY 4.0 (COCO) / research use.

Layout under ``--root`` (the refer API's ``data`` folder)::

    refcoco/instances.json   refcoco/refs(unc).p
    refcoco+/instances.json  refcoco+/refs(unc).p
    refcocog/instances.json  refcocog/refs(umd).p
    images/mscoco/images/train2014/COCO_train2014_*.jpg   (or ROOT/train2014/, ROOT/images/train2014/)

``--root`` may also be one dataset's own folder (holding ``instances.json`` and the refs file);
its images are then looked for in ``../images/mscoco/images/train2014``, ``../train2014`` and
``./train2014``. ``--ann FILE`` names the refs file instead of the default. Each refs file is a
list of refs ``{ref_id, ann_id, image_id, category_id, split, sentences: [{sent_id, sent, raw,
tokens}], ...}``. The official files are Python pickles: they are read with sambench's restricted
unpickler (``sambench.safe_pickle``), which admits only plain containers and scalars, so a pickle
asking for a class or a function (``os.system``...) is refused with one line and nothing in it
runs. The same list converted to JSON (``refs(unc).json``) or to parquet (``refs(unc).parquet``:
one row per ref with a ``sentences`` list column, or one row per sentence with ``sent_id`` and
``sent`` columns) is read as well, and is used when the pickle is absent.

Splits (``--split``, a comma list): RefCOCO and RefCOCO+ ``val``, ``testA``, ``testB`` (UNC);
RefCOCOg ``val``, ``test`` (UMD); ``train`` exists in every file. Default: every evaluation split
(the summary reports each split apart). Test splits are matched the refer API's way (``testA``
also takes refs labelled ``testAB``, ``test`` every ``test*`` label).

What becomes a sample: one image per COCO image with refs in the chosen splits; its instances are
the referred annotations (polygons rasterised with pycocotools, several polygons of one object
merged), with ``category`` in ``Instance.extra``; ``Sample.extra["refs"]`` lists the image's refs
(``ref_id``, ``ann_id``, ``split``, ``category_id``, ``sentences`` [``sent_id``, ``sent``]). Each
sentence is one expression (``sent``, the refer API's normalised text; ``raw`` when ``sent`` is
missing). Refs that cannot be used (malformed, annotation or image not in ``instances.json``,
annotation on another image, no expression) are left out and counted by reason in the run config
(``describe()``), never silently.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from sambench.annotations import segmentation_rle
from sambench.data import BadSampleError, Instance, Sample
from sambench.hashing import sha256_file
from sambench.safe_pickle import UnsafePickleError, load_data_pickle

from .base import DATASETS, DatasetAdapter, DatasetLayoutError, image_loader
from .coco import load_coco_json

IMAGE_FOLDERS = ("images/mscoco/images/train2014", "train2014", "images/train2014", "coco/train2014")
PARENT_IMAGE_FOLDERS = ("../images/mscoco/images/train2014", "../train2014", "../images/train2014")
REFS_SUFFIXES = (".p", ".pkl", ".pickle", ".json", ".parquet")


class RefsFileError(DatasetLayoutError):
    """A refs file that cannot be read at all (one line naming it)."""


def read_refs(path: Path) -> list:
    """The list of refs of a refs file: restricted-unpickled (.p/.pkl/.pickle), JSON or parquet.

    Raises:
      RefsFileError: unreadable, refused (unsafe pickle) or not a list of refs (one line naming the file).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text())
        elif suffix == ".parquet":
            data = _refs_from_parquet(path)
        else:
            data = load_data_pickle(path)
    except UnsafePickleError as exc:
        raise RefsFileError(str(exc)) from exc
    except (OSError, ValueError) as exc:
        raise RefsFileError(f"{path}: not a readable refs file ({str(exc).splitlines()[0]})") from exc
    if isinstance(data, tuple):
        data = list(data)
    if not isinstance(data, list):
        raise RefsFileError(f"{path}: expected a list of refs ({{ref_id, ann_id, image_id, split, sentences}}), "
                            f"got a {type(data).__name__}")
    return data


def _plain(v):
    """numpy / pyarrow values from a parquet row as plain Python values."""
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _refs_from_parquet(path: Path) -> list:
    import pandas as pd

    frame = pd.read_parquet(path)
    rows = [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
    if "sentences" in frame.columns:
        return rows
    if not {"ref_id", "sent"} <= set(frame.columns):
        raise ValueError("expected a 'sentences' column (one row per ref) or 'ref_id' and 'sent' columns "
                         "(one row per sentence)")
    refs: Dict[object, dict] = {}
    for r in rows:  # one row per sentence: group by ref, in file order
        ref = refs.setdefault(r["ref_id"], {k: v for k, v in r.items() if k not in ("sent", "sent_id", "raw", "tokens")})
        ref.setdefault("sentences", []).append({k: r[k] for k in ("sent_id", "sent", "raw") if k in r})
    return list(refs.values())


def split_matches(label: str, wanted: str) -> bool:
    """The refer API's split selection: testA/testB/testC match any label containing that letter after
    'test' (testAB), 'test' matches every test label, other names match exactly."""
    if wanted in ("testA", "testB", "testC"):
        return label.startswith("test") and wanted[-1] in label[4:]
    if wanted == "test":
        return label.startswith("test")
    return label == wanted


class RefCOCOBase(DatasetAdapter):
    """Shared reader of the refer API's files (one registry entry per dataset below)."""

    folder: str = "refcoco"
    split_by: str = "unc"
    splits = ("val", "testA", "testB", "train")
    domain = "Scenes"
    mask_type = "referred object"
    source = ("https://github.com/lichengunc/refer (refcoco.zip, refcoco+.zip, refcocog.zip) + COCO train2014 "
              "images (https://cocodataset.org)")
    license = "annotations: research use (refer data) and CC BY 4.0 (COCO); images under their Flickr licences"

    # -- files -------------------------------------------------------------------------------------
    def dataset_dir(self) -> Path:
        """The folder holding instances.json: ROOT/<dataset>/ or ROOT itself (where neither holds it,
        ROOT/<dataset>/, the layout's own place, so an error names it)."""
        nested = self.root / self.folder
        return nested if nested.is_dir() or not (self.root / "instances.json").is_file() else self.root

    def refs_file(self) -> Path:
        if self.ann is not None:
            return self.ann
        stem = f"{self.dataset_dir() / f'refs({self.split_by})'}"
        for suffix in REFS_SUFFIXES:  # the official pickle first, then a user's JSON / parquet conversion
            if Path(stem + suffix).is_file():
                return Path(stem + suffix)
        return Path(stem + ".p")

    def instances_file(self) -> Path:
        return self.dataset_dir() / "instances.json"

    def annotation_files(self) -> List[Path]:
        return [self.refs_file(), self.instances_file()]

    def images_dir(self) -> Path:
        bases = [self.root / f for f in IMAGE_FOLDERS]
        if self.dataset_dir() == self.root:
            bases += [(self.root / f).resolve() for f in PARENT_IMAGE_FOLDERS]
        else:
            bases += [self.dataset_dir() / "train2014"]
        for b in bases:
            if b.is_dir():
                return b
        raise DatasetLayoutError(f"{self.root}: COCO train2014 images not found (looked in "
                                 f"{', '.join(str(b) for b in bases)}); {self.name} expects {self.layout}")

    def check_layout(self) -> None:
        wanted = [s.strip() for s in self.split.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in self.splits and not s.startswith("test")]
        if not wanted or unknown:
            raise DatasetLayoutError(f"{self.name}: unknown split {','.join(unknown) or repr(self.split)}; "
                                     f"expected a comma list of {', '.join(self.splits)}")
        self.wanted_splits = wanted
        for f, what in ((self.instances_file(), "instances.json"), (self.refs_file(), f"refs({self.split_by}).p")):
            if not f.is_file():
                raise DatasetLayoutError(f"{f}: {what} not found; {self.name} expects under --root {self.layout}")
        self._images_dir = self.images_dir()
        self._index: Optional[dict] = None

    # -- index ---------------------------------------------------------------------------------------
    def _load(self) -> dict:
        if self._index is not None:
            return self._index
        refs = read_refs(self.refs_file())
        data = load_coco_json(self.instances_file())
        images = {str(im["id"]): im for im in data["images"] if isinstance(im, dict) and "id" in im}
        anns = {str(a["id"]): a for a in data["annotations"] if isinstance(a, dict) and "id" in a}
        cats = {c.get("id"): c.get("name") for c in data.get("categories", []) if isinstance(c, dict)}
        problems: Counter = Counter()
        by_image: Dict[str, List[dict]] = defaultdict(list)
        n_refs_other_splits = 0
        for ref in refs:
            entry, reason = self._clean_ref(ref, images, anns)
            if reason:
                problems[reason] += 1
                continue
            if not any(split_matches(entry["split"], s) for s in self.wanted_splits):
                n_refs_other_splits += 1
                continue
            by_image[entry["image_id"]].append(entry)
        self._index = {"images": images, "anns": anns, "categories": cats, "by_image": dict(by_image),
                       "problems": dict(problems), "n_refs_file": len(refs), "n_refs_other_splits": n_refs_other_splits}
        return self._index

    @staticmethod
    def _clean_ref(ref, images: dict, anns: dict) -> Tuple[Optional[dict], Optional[str]]:
        if not isinstance(ref, dict):
            return None, "malformed ref (not a dict)"
        try:
            ref_id, ann_id, image_id = ref["ref_id"], ref["ann_id"], ref["image_id"]
            split = str(ref["split"])
            sentences = ref["sentences"]
        except KeyError as exc:
            return None, f"malformed ref (no {exc.args[0]})"
        if not isinstance(sentences, (list, tuple)):
            return None, "malformed ref (sentences is not a list)"
        ann = anns.get(str(ann_id))
        if str(image_id) not in images:
            return None, "image_id not in instances.json"
        if ann is None:
            return None, "ann_id not in instances.json"
        if str(ann.get("image_id")) != str(image_id):
            return None, "annotation is on another image"
        sents = []
        for k, s in enumerate(sentences):
            if not isinstance(s, dict):
                continue
            text = s.get("sent") or s.get("raw")
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            if isinstance(text, str) and text.strip():
                sents.append({"sent_id": s.get("sent_id", f"{ref_id}-{k}"), "sent": text.strip()})
        if not sents:
            return None, "no expression"
        return {"ref_id": ref_id, "ann_id": str(ann_id), "image_id": str(image_id), "split": split,
                "category_id": ref.get("category_id", ann.get("category_id")), "sentences": sents}, None

    # -- adapter interface -----------------------------------------------------------------------------
    def image_ids(self) -> List[str]:
        return sorted(self._load()["by_image"], key=lambda s: (len(s), s))

    def source_files(self) -> Iterator[Path]:
        """The image files of the chosen splits (the Arrow cache's signature; the json/refs are hashed)."""
        idx = self._load()
        for image_id in self.image_ids():
            yield self._images_dir / Path(str(idx["images"][image_id].get("file_name", ""))).name

    def load_sample(self, image_id: str) -> Sample:
        idx = self._load()
        im = idx["images"][image_id]
        try:
            h, w = int(im["height"]), int(im["width"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BadSampleError(f"{self.instances_file()}: image {image_id} has no valid height/width ({exc})")
        path = self._images_dir / Path(str(im.get("file_name", ""))).name
        if not path.is_file():
            raise BadSampleError(f"{path}: image file missing")
        refs = idx["by_image"].get(image_id, [])
        instances, bad = [], []
        for ann_id in dict.fromkeys(r["ann_id"] for r in refs):
            a = idx["anns"][ann_id]
            try:
                rle = segmentation_rle(a["segmentation"], h, w)  # checked before pycocotools sees it
            except Exception as exc:  # only this annotation's expressions are skipped (listed with the reason)
                bad.append({"instance_id": str(ann_id), "reason": f"{self.instances_file().name}: bad segmentation "
                                                                  f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"})
                continue
            cat = a.get("category_id")
            instances.append(Instance(id=ann_id, rle=rle, category_id=cat, iscrowd=bool(a.get("iscrowd", 0)),
                                      extra={"category": idx["categories"].get(cat)}))
        extra = {"refs": [{k: r[k] for k in ("ref_id", "ann_id", "split", "category_id", "sentences")} for r in refs],
                 **({"skipped_annotations": bad} if bad else {})}
        return Sample(image_id=image_id, height=h, width=w, instances=instances, loader=image_loader(path),
                      image_path=path, extra=extra)

    def describe(self) -> Dict[str, object]:
        d = super().describe()
        idx = self._load()
        refs_file = self.refs_file()
        n_refs = sum(len(v) for v in idx["by_image"].values())
        d.update({"refs_file": str(refs_file.resolve()), "refs_sha256": sha256_file(refs_file),
                  "instances_file": str(self.instances_file().resolve()), "split_by": self.split_by,
                  "splits": list(self.wanted_splits), "n_refs": n_refs,
                  "n_expressions": sum(len(r["sentences"]) for v in idx["by_image"].values() for r in v),
                  "n_refs_in_file": idx["n_refs_file"], "n_refs_other_splits": idx["n_refs_other_splits"],
                  "n_refs_skipped": int(sum(idx["problems"].values())), "refs_skipped_by_reason": idx["problems"]})
        return d


@DATASETS.register("refcoco")
class RefCOCO(RefCOCOBase):
    """RefCOCO (UNC splits val/testA/testB): referring expressions on COCO train2014"""

    title = "RefCOCO (UNC)"
    split = "val,testA,testB"
    folder = "refcoco"
    split_by = "unc"
    layout = "ROOT/refcoco/{instances.json,refs(unc).p} and ROOT/images/mscoco/images/train2014/*.jpg"
    citation = ("Kazemzadeh et al., ReferItGame, EMNLP 2014; Yu et al., Modeling context in referring "
                "expressions, ECCV 2016")


@DATASETS.register("refcoco+")
class RefCOCOPlus(RefCOCOBase):
    """RefCOCO+ (UNC splits val/testA/testB): no absolute-location words"""

    title = "RefCOCO+ (UNC)"
    split = "val,testA,testB"
    folder = "refcoco+"
    split_by = "unc"
    layout = "ROOT/refcoco+/{instances.json,refs(unc).p} and ROOT/images/mscoco/images/train2014/*.jpg"
    citation = ("Kazemzadeh et al., ReferItGame, EMNLP 2014; Yu et al., Modeling context in referring "
                "expressions, ECCV 2016")


@DATASETS.register("refcocog")
class RefCOCOg(RefCOCOBase):
    """RefCOCOg (UMD splits val/test): longer expressions"""

    title = "RefCOCOg (UMD)"
    folder = "refcocog"
    split_by = "umd"
    split = "val,test"
    splits = ("val", "test", "train")
    layout = "ROOT/refcocog/{instances.json,refs(umd).p} and ROOT/images/mscoco/images/train2014/*.jpg"
    citation = ("Mao et al., Generation and comprehension of unambiguous object descriptions, CVPR 2016; "
                "Nagaraja et al., Modeling context between objects for referring expression understanding, ECCV 2016")
