"""The shared base of every dataset adapter.

An adapter is the only code that knows a dataset's files. It lists image ids cheaply, loads one
sample lazily (image + instance masks as RLE + optional ignore region) and never decides anything
about prompts or metrics. Every adapter module follows the same template (see ``grabcut.py``):
class attributes describing the release, a layout check, ``image_ids`` and ``load_sample``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import ClassVar, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageOps

from sambench import masks as mask_utils
from sambench.data import BadSample, BadSampleError, Instance, Sample
from sambench.registry import Registry, code_provenance

class DatasetRegistry(Registry):
    """The dataset registry: ``@DATASETS.register("name")`` also gives the class that ``name``, so an
    adapter states its name once (a class ``name`` that disagrees with the decorator is refused)."""

    def register(self, name: str, description: str = "", aliases: Sequence[str] = ()):
        add = super().register(name, description, aliases)

        def decorator(cls):
            own = cls.__dict__.get("name")
            if own and own != name:
                raise ValueError(f"dataset class {cls.__name__} is registered as '{name}' but says name = '{own}'")
            cls.name = name
            return add(cls)

        return decorator

    def get(self, name: str):
        """The class for ``name``; one without a name of its own (an entry point, or an unregistered
        class given as ``file.py:NAME`` / ``module:NAME``) is named by what the user typed."""
        cls = super().get(name)
        if isinstance(cls, type) and not getattr(cls, "name", ""):
            cls.name = self.canonical(name).rpartition(":")[2]
        return cls


DATASETS: DatasetRegistry = DatasetRegistry("dataset", entry_point_group="sambench.datasets")


class DatasetLayoutError(ValueError):
    """The root does not hold the expected files; the message is one line naming path and layout."""


class DatasetAdapter:
    """Base class of all dataset adapters.

    Class attributes (the release's facts, shown by ``sambench datasets list``):
      name: short registry name (set by ``@DATASETS.register``; an unregistered class given as
        ``path/to/file.py:NAME`` is named NAME).
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
            "image_decoding": IMAGE_DECODING,
            "paper_images": self.paper_images,
            "paper_masks": self.paper_masks,
            **self.code(),
        }

    def code(self) -> Dict[str, object]:
        """``{"code": {"module", "file", "sha256"}}`` for an adapter from a user's file or package
        (edited adapter code is another dataset reader: a run cannot resume across it); {} in-tree."""
        module = type(self).__module__ or ""
        if module == "sambench.datasets" or module.startswith("sambench.datasets."):
            return {}
        found = code_provenance(type(self))
        return {"code": found} if found else {}

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


IMAGE_DECODING = ("EXIF orientation applied (as OpenCV's imread and image viewers show the image); "
                  "8-bit RGB: grey replicated, palette looked up, alpha dropped (not composited), "
                  "16-bit values v -> v >> 8 (the high byte, as OpenCV's 8-bit read), float images refused")
"""The one decoding rule of every image (recorded in each dataset's entry of the run config)."""

EXIF_ORIENTATION = 0x0112
_TRANSPOSED = (5, 6, 7, 8)  # orientations that swap width and height


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1..8) of an opened image; 1 when absent or invalid."""
    try:
        value = int(im.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # unreadable EXIF block: the stored orientation stands
        return 1
    return value if 1 <= value <= 8 else 1


def decode_image(im: Image.Image, path: Path) -> np.ndarray:
    """An opened image as HxWx3 uint8 RGB by ``IMAGE_DECODING``."""
    if exif_orientation(im) != 1:
        im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise BadSampleError(f"{path}: 32-bit integer image with values outside 0..65535; sambench reads "
                                 f"8- and 16-bit images")
        arr = (arr.astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if im.mode == "F":
        raise BadSampleError(f"{path}: floating-point image (mode F); sambench reads 8- and 16-bit images")
    return np.asarray(im.convert("RGB"))


def read_image(path: Path) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB, by the rule ``IMAGE_DECODING`` (EXIF orientation applied).

    Raises:
      BadSampleError: a floating-point or out-of-range 32-bit image (one line naming the file);
        other unreadable files raise PIL's own errors (``Sample.image`` turns them into BadSampleError).
    """
    with Image.open(path) as im:
        return decode_image(im, path)


def read_label_map(path: Path) -> np.ndarray:
    """Read an annotation PNG as an integer array, keeping palette indices and 16-bit values."""
    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except Exception as exc:
        raise BadSampleError(f"{path}: unreadable annotation ({exc})") from exc


def image_size(path: Path) -> tuple:
    """(height, width) of an image file as displayed (EXIF orientation applied), without decoding its pixels."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if exif_orientation(im) in _TRANSPOSED:
                w, h = h, w
    except Exception as exc:
        raise BadSampleError(f"{path}: unreadable image ({exc})") from exc
    return h, w


def check_image_size(path: Path, height: int, width: int, source: object) -> None:
    """BadSampleError (one line) unless the image as displayed is ``width`` x ``height`` as ``source`` says."""
    h, w = image_size(path)
    if (h, w) != (height, width):
        try:
            with Image.open(path) as im:
                o = exif_orientation(im)
        except Exception:
            o = 1
        note = f" after applying its EXIF orientation {o}" if o != 1 else ""
        raise BadSampleError(f"{path}: image is {w}x{h}{note}, {source} says {width}x{height}")


class DataWarning(UserWarning):
    """Input that was read by a documented rule but looks unusual (e.g. a lossy mask file)."""


def data_warning(message: str) -> None:
    """Issue a DataWarning: one line on stderr (the CLI prints ``sambench: warning: ...``), catchable as a warning."""
    warnings.warn_explicit(message, DataWarning, filename="sambench", lineno=0)


def warn_once(owner: object, key: str, message: str) -> None:
    """``data_warning(message)`` once per (owner, key) (e.g. once per dataset adapter)."""
    seen = owner.__dict__.setdefault("_warned", set())
    if key not in seen:
        seen.add(key)
        data_warning(message)


def check_mask_values(owner: object, path: Path, label: np.ndarray, expected: Iterable[int], rule: str) -> None:
    """Warn once per adapter when a mask file holds values outside ``expected`` (lossy or anti-aliased
    masks); ``rule`` says how every value is read anyway."""
    values = np.unique(label)
    extra = sorted(set(int(v) for v in values) - set(int(e) for e in expected))
    if extra:
        shown = ", ".join(map(str, extra[:6])) + (", ..." if len(extra) > 6 else "")
        warn_once(owner, "mask_values", f"{path}: mask values {{{shown}}} outside the expected "
                                        f"{sorted(set(expected))} (a lossy or anti-aliased mask file?); read by the "
                                        f"dataset's rule: {rule} (warned once per dataset)")


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
    """Split instances into (kept, ids of zero-area ones); adapters record the ids in ``extra["zero_area"]``
    (``Sample.skipped_annotations`` lists them as skipped with the reason "zero-area mask")."""
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
