"""The shared base of every dataset adapter.

An adapter is the only code that knows a dataset's files. It lists image ids cheaply, loads one
sample lazily (image + instance masks as RLE + optional ignore region) and never decides anything
about prompts or metrics. Every adapter module follows the same template (see ``grabcut.py``):
class attributes describing the release, a layout check, ``image_ids`` and ``load_sample``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np
from PIL import Image

from sambench import masks as mask_utils
from sambench.data import BadSample, BadSampleError, Instance, Sample
from sambench.registry import Registry

DATASETS: Registry = Registry("dataset", entry_point_group="sambench.datasets")


class DatasetLayoutError(ValueError):
    """The root does not hold the expected files; the message is one line naming path and layout."""


class DatasetAdapter:
    """Base class of all dataset adapters.

    Class attributes (the release's facts, shown by ``sambench datasets list``):
      name: short registry name.
      title: the dataset's full name.
      domain, mask_type, split: as in the Segment Anything paper's Table 7 where it applies.
      layout: the folder layout expected under ``--root`` (one line; details in the docstring).
      source, license, citation: where the archive comes from, its licence, what to cite.
      paper_images, paper_masks: the numbers the paper sampled (None where not applicable).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    domain: ClassVar[str] = ""
    mask_type: ClassVar[str] = "instance"
    split: ClassVar[str] = ""
    layout: ClassVar[str] = ""
    source: ClassVar[str] = ""
    license: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    paper_images: ClassVar[Optional[int]] = None
    paper_masks: ClassVar[Optional[int]] = None

    def __init__(self, root: Union[str, Path], ann: Optional[Union[str, Path]] = None, split: Optional[str] = None):
        self.root = Path(root).expanduser()
        self.ann = Path(ann).expanduser() if ann else None
        if split:
            self.split = split
        if not self.root.is_dir():
            raise DatasetLayoutError(f"{self.root}: no such directory; {self.name} expects {self.layout}")
        self.check_layout()

    # -- to implement -------------------------------------------------------------------------
    def check_layout(self) -> None:
        """Raise DatasetLayoutError (one line: path and expected layout) if files are missing."""

    def image_ids(self) -> List[str]:
        """All image ids of the split, in a stable order."""
        raise NotImplementedError

    def load_sample(self, image_id: str) -> Sample:
        """Load one sample; raise BadSampleError for a broken one."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def describe(self) -> Dict[str, object]:
        """Provenance of this dataset for a run's config."""
        return {
            "name": self.name,
            "root": str(self.root.resolve()),
            "ann": str(self.ann.resolve()) if self.ann else None,
            "split": self.split,
        }

    def samples(self, ids: Optional[Sequence[str]] = None) -> Iterator[Union[Sample, BadSample]]:
        """Yield samples lazily; a broken one comes back as BadSample (never an exception)."""
        for image_id in self.image_ids() if ids is None else ids:
            try:
                yield self.load_sample(image_id)
            except BadSampleError as exc:
                yield BadSample(image_id, str(exc))

    def missing(self, path: Path, what: str) -> DatasetLayoutError:
        return DatasetLayoutError(f"{path}: {what} not found; {self.name} expects under --root {self.layout}")


def require(adapter: DatasetAdapter, *relative: str) -> None:
    """Raise the adapter's one-line layout error for the first of ``relative`` missing under root."""
    for rel in relative:
        path = adapter.root / rel
        if not path.exists():
            raise adapter.missing(path, rel)


def read_image(path: Path) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB (grey, palette, RGBA and 16-bit inputs converted)."""
    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16B", "I", "F"):
            arr = np.asarray(im, dtype=np.float64)
            hi = arr.max() or 1.0
            arr = (arr / hi * 255).astype(np.uint8)
            return np.repeat(arr[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"))


def read_label_map(path: Path) -> np.ndarray:
    """Read an annotation PNG as an integer array, keeping palette indices and 16-bit values."""
    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except Exception as exc:
        raise BadSampleError(f"{path}: unreadable annotation ({exc})") from exc


def image_size(path: Path) -> tuple:
    """(height, width) of an image file without decoding its pixels."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception as exc:
        raise BadSampleError(f"{path}: unreadable image ({exc})") from exc
    return h, w


def image_loader(path: Path):
    """A loader closure for Sample.loader (its ``path`` attribute tells caches it just reads that file)."""
    def load() -> np.ndarray:
        return read_image(path)

    load.path = path
    return load


def instances_from_label_map(labels: np.ndarray, skip: Iterable[int] = (0,), prefix: str = "") -> List[Instance]:
    """One Instance per distinct label value (except ``skip``), ids ``f"{prefix}{value}"``."""
    skip = set(int(s) for s in skip)
    out = []
    for value in np.unique(labels):
        if int(value) in skip:
            continue
        out.append(Instance(id=f"{prefix}{int(value)}", rle=mask_utils.encode(labels == value)))
    return out


def sample_from_masks(image_id: str, image_path: Path, named_masks: Dict[str, np.ndarray],
                      ignore: Optional[np.ndarray] = None) -> Sample:
    """Build a Sample from an image file and a dict of id -> HxW boolean mask."""
    h, w = image_size(image_path)
    instances = []
    for inst_id, m in named_masks.items():
        if m.shape != (h, w):
            raise BadSampleError(f"{image_path}: mask '{inst_id}' is {m.shape[1]}x{m.shape[0]}, image is {w}x{h}")
        instances.append(Instance(id=str(inst_id), rle=mask_utils.encode(m)))
    return Sample(
        image_id=image_id, height=h, width=w, instances=instances, loader=image_loader(image_path),
        ignore=mask_utils.encode(ignore) if ignore is not None and ignore.any() else None, image_path=image_path,
    )


class RLEList(Sequence):
    """A read-only list of HxW boolean masks kept as COCO RLE and decoded on access.

    Adapters put one in ``Sample.extra`` for per-image mask lists that are not instances (e.g.
    BSDS500's per-annotator boundary maps); the Arrow cache stores ``.rles`` and gives one back.
    """

    def __init__(self, rles: Sequence[dict]):
        self.rles = list(rles)

    def __len__(self) -> int:
        return len(self.rles)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [mask_utils.decode(r) for r in self.rles[index]]
        return mask_utils.decode(self.rles[index])

    def __repr__(self) -> str:
        return f"RLEList({len(self.rles)} masks)"


def drop_empty(instances: Sequence[Instance]) -> tuple:
    """Split instances into (kept, ids of zero-area ones); adapters record the ids in ``extra["zero_area"]``."""
    kept, dropped = [], []
    for inst in instances:
        if inst.area > 0:
            kept.append(inst)
        else:
            dropped.append(inst.id)
    return kept, dropped


def encode_label_map(labels: np.ndarray, values: Sequence[int]) -> List[dict]:
    """RLE of ``labels == v`` for each v in ``values``, from one pass over the label map's runs.

    Same RLEs as ``masks.encode(labels == v)`` (identical counts strings), several times faster than
    comparing and encoding per value when a label map has many labels.
    """
    h, w = labels.shape
    n = h * w
    flat = labels.ravel(order="F")  # RLE order is column-major
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n]])
    order = np.argsort(flat[starts], kind="stable")
    run_values = flat[starts][order]
    out = []
    for v in values:
        idx = order[np.searchsorted(run_values, v, "left"):np.searchsorted(run_values, v, "right")]
        if len(idx) == 0:
            counts = [n]
        else:
            s, e = starts[idx], ends[idx]
            c = np.empty(2 * len(idx) + 1, dtype=np.int64)
            c[0], c[-1] = s[0], n - e[-1]
            c[1::2] = e - s
            c[2:-1:2] = s[1:] - e[:-1]
            counts = (c[:-1] if c[-1] == 0 else c).tolist()  # pycocotools drops a final empty run
        out.append(mask_utils.from_segmentation({"size": [h, w], "counts": counts}, h, w))
    return out
