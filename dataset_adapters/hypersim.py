"""Hypersim (Roberts et al., ICCV 2021): photorealistic synthetic indoor scenes with instance labels.

Release: https://github.com/apple/ml-hypersim (``code/python/tools/dataset_download_images.py``
downloads one ZIP per scene, 1.9 TB in all; ``contrib/99991`` fetches single files, e.g. only the
preview JPEGs and the ``semantic_instance`` HDF5 files this adapter reads). 461 scenes of the
Evermotion Archinteriors volumes 1-55 excluding 20, 25, 40 and 49 (the volumes the authors
rendered; images with people or logos were removed from the public release: 74,619 images).
Licence: CC BY-SA 3.0. Cite: Roberts, Ramapuram, Ranjan, Kumar, Bautista, Paczan, Webb,
Susskind, "Hypersim: A Photorealistic Synthetic Dataset for Holistic Indoor Scene Understanding",
ICCV 2021.

Layout under ``--root`` (scene folders as unzipped)::

    ROOT/ai_VVV_NNN/images/scene_cam_XX_final_preview/frame.IIII.tonemap.jpg        image (or .color.jpg)
    ROOT/ai_VVV_NNN/images/scene_cam_XX_geometry_hdf5/frame.IIII.semantic_instance.hdf5
    ROOT/ai_VVV_NNN/images/scene_cam_XX_geometry_hdf5/frame.IIII.semantic.hdf5       (optional)

Choices (the paper only says "instance masks"):

* Masks come from ``semantic_instance.hdf5`` (dataset ``"dataset"``, int, ``-1`` = no instance):
  one instance per distinct id ``>= 0``, i.e. the annotated semantic objects (a chair, a wall). The
  finer ``render_entity_id`` maps split objects into V-Ray nodes (a chair into legs, seat, ...) and
  are not used. Unlabeled pixels (``-1``) are plain background, not an ignore region.
* ``category_id`` is the NYU40 label (most frequent ``semantic.hdf5`` value inside the instance)
  when that file is present.
* The image is the tonemapped preview JPEG (``frame.IIII.tonemap.jpg``, falling back to
  ``frame.IIII.color.jpg``), what a model sees in the authors' previews; the HDR ``color.hdf5`` is
  not tonemapped here.
* Split (Table 7: "Evermotion archinteriors vol. 1-55 excluding 20,25,40,49"): every frame of
  every scene folder ``ai_VVV_*`` with ``1 <= VVV <= 55`` and ``VVV`` not in {20, 25, 40, 49};
  other folders are ignored. That is the whole public release, so the manifest subsamples
  (paper: 338 images / 9,445 masks).

Reading the HDF5 files needs ``h5py`` (imported only when this adapter is built).
Image ids are ``ai_VVV_NNN/cam_XX/frame.IIII``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, DatasetLayoutError, image_loader, image_size

EXCLUDED_VOLUMES = frozenset({20, 25, 40, 49})
MAX_VOLUME = 55
SCENE_RE = re.compile(r"^ai_(\d{3})_(\d{3})$")
FRAME_RE = re.compile(r"^frame\.(\d{4})\.semantic_instance\.hdf5$")
CAM_RE = re.compile(r"^scene_(cam_\d+)_geometry_hdf5$")


def read_hdf5_array(path: Path) -> np.ndarray:
    """The ``"dataset"`` array of a Hypersim HDF5 file; BadSampleError if unreadable."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return np.asarray(f["dataset"][()])
    except Exception as exc:  # OSError for a corrupt file, KeyError for a missing dataset
        raise BadSampleError(f"{path}: unreadable HDF5 ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from exc


def volume_included(volume: int) -> bool:
    return 1 <= volume <= MAX_VOLUME and volume not in EXCLUDED_VOLUMES


@DATASETS.register("hypersim")
class Hypersim(DatasetAdapter):
    """Hypersim synthetic indoor scenes (semantic_instance HDF5, Evermotion vol. 1-55)"""

    title = "Hypersim"
    domain = "Simulation"
    mask_type = "instance"
    split = "Evermotion archinteriors vol. 1-55 excluding 20,25,40,49"
    layout = ("ROOT/ai_VVV_NNN/images/scene_cam_XX_{final_preview/frame.IIII.tonemap.jpg, "
              "geometry_hdf5/frame.IIII.semantic_instance.hdf5}")
    source = "https://github.com/apple/ml-hypersim (dataset_download_images.py)"
    license = "CC BY-SA 3.0"
    citation = ("Roberts et al., Hypersim: A Photorealistic Synthetic Dataset for Holistic Indoor Scene "
                "Understanding, ICCV 2021")
    paper_images = 338
    paper_masks = 9445

    def check_layout(self) -> None:
        scenes = []
        for p in sorted(self.root.iterdir()):
            m = SCENE_RE.match(p.name)
            if m and p.is_dir() and volume_included(int(m.group(1))):
                scenes.append(p)
        if not scenes:
            raise DatasetLayoutError(f"{self.root}: no scene folder ai_VVV_NNN (volumes 1-55 except 20,25,40,49); "
                                     f"{self.name} expects under --root {self.layout}")
        self._frames: Dict[str, Tuple[Path, Path]] = {}  # id -> (geometry_hdf5 folder, frame number)
        for scene in scenes:
            images = scene / "images"
            if not images.is_dir():
                continue
            for cam_dir in sorted(images.iterdir()):
                cm = CAM_RE.match(cam_dir.name)
                if not cm or not cam_dir.is_dir():
                    continue
                for f in sorted(cam_dir.iterdir()):
                    fm = FRAME_RE.match(f.name)
                    if fm:
                        self._frames[f"{scene.name}/{cm.group(1)}/frame.{fm.group(1)}"] = (cam_dir, fm.group(1))
        if not self._frames:
            raise DatasetLayoutError(f"{self.root}: no frame.IIII.semantic_instance.hdf5 in any "
                                     f"ai_VVV_NNN/images/scene_cam_XX_geometry_hdf5; {self.name} expects "
                                     f"under --root {self.layout}")
        try:
            import h5py  # noqa: F401
        except ImportError as exc:
            raise DatasetLayoutError(f"{self.root}: reading Hypersim needs the h5py package (pip install h5py)") from exc

    def image_ids(self) -> List[str]:
        return sorted(self._frames)

    def image_path(self, image_id: str) -> Optional[Path]:
        geo_dir, frame = self._frames[image_id]
        preview = geo_dir.parent / geo_dir.name.replace("_geometry_hdf5", "_final_preview")
        for kind in ("tonemap", "color"):
            p = preview / f"frame.{frame}.{kind}.jpg"
            if p.is_file():
                return p
        return None

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._frames:
            raise BadSampleError(f"{self.root}: no frame '{image_id}'")
        geo_dir, frame = self._frames[image_id]
        path = self.image_path(image_id)
        if path is None:
            raise BadSampleError(f"{geo_dir.parent}: no final_preview frame.{frame}.tonemap.jpg / .color.jpg "
                                 f"for '{image_id}'")
        h, w = image_size(path)
        inst = read_hdf5_array(geo_dir / f"frame.{frame}.semantic_instance.hdf5")
        if inst.shape != (h, w):
            raise BadSampleError(f"{geo_dir}/frame.{frame}.semantic_instance.hdf5: shape {inst.shape} != image {h}x{w}")
        sem_path = geo_dir / f"frame.{frame}.semantic.hdf5"
        sem = read_hdf5_array(sem_path) if sem_path.is_file() else None
        if sem is not None and sem.shape != inst.shape:
            sem = None
        instances = []
        for value in np.unique(inst):
            v = int(value)
            if v < 0:
                continue
            m = inst == value
            category = None
            if sem is not None:
                labels, counts = np.unique(sem[m], return_counts=True)
                category = int(labels[np.argmax(counts)])
            instances.append(Instance(id=str(v), rle=mask_utils.encode(m), category_id=category))
        return Sample(image_id=image_id, height=h, width=w, instances=instances,
                      loader=image_loader(path), image_path=path)
