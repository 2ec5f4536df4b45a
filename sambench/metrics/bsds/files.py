"""Reading the BSDS benchmark's inputs: ground-truth ``.mat`` files, soft-map PNGs, ``ucm2``/``segs`` files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Union

import numpy as np

from .thinning import seg_to_boundaries

PathLike = Union[str, "os.PathLike[str]"]


def _loadmat(path: PathLike) -> Dict[str, Any]:
    from scipy.io import loadmat

    return loadmat(str(path))


def _cells(obj: np.ndarray) -> List[Any]:
    """Elements of a MATLAB cell array loaded by scipy (any orientation)."""
    return [obj.flat[i] for i in range(obj.size)]


def load_bsds_ground_truth(mat_path: PathLike, key: str = "Boundaries") -> List[np.ndarray]:
    """Annotations of one image from a BSDS ``groundTruth/<id>.mat`` file.

    Arguments:
        mat_path: path of the .mat file (``groundTruth`` is a 1xK cell of structs with fields
            ``Segmentation`` and ``Boundaries``).
        key: ``"Boundaries"`` (bool maps, default) or ``"Segmentation"`` (label maps).

    Returns:
        list of K HxW arrays (bool for boundaries, the stored integer type for segmentations).
    """
    gt = _loadmat(mat_path)["groundTruth"]
    out = []
    for cell in _cells(gt):
        a = cell[key]
        while isinstance(a, np.ndarray) and a.dtype == object:
            a = a.flat[0]
        a = np.asarray(a)
        out.append(a != 0 if key == "Boundaries" else a)
    return out


def load_bsds_segmentations(mat_path: PathLike) -> List[np.ndarray]:
    """Label images from a benchmark ``segs`` file (``segs``: 1xK cell of HxW label maps).

    Arguments:
        mat_path: path of the .mat file.

    Returns:
        list of K HxW integer arrays.
    """
    return [np.asarray(s) for s in _cells(_loadmat(mat_path)["segs"])]


def read_prediction_png(path: PathLike) -> np.ndarray:
    """Read a soft boundary map image as the benchmark does: ``double(imread(f)) / 255``.

    Arguments:
        path: 8-bit grayscale image (PNG, or anything Pillow reads).  A 16-bit image is divided
            by 65535 instead (MATLAB would divide by 255, which is meaningless); an RGB image whose
            channels are equal is read from its first channel.

    Returns:
        HxW float64 map (8-bit: values v/255 in [0, 1]).
    """
    from PIL import Image

    with Image.open(path) as im:
        a = np.asarray(im)
    if a.ndim == 3:
        if a.shape[2] in (3, 4) and np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]):
            a = a[..., 0]
        else:
            raise ValueError(f"{path}: expected a grayscale boundary map, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16 or (a.dtype.kind in "iu" and a.max(initial=0) > 255):
        return a.astype(np.float64) / 65535.0
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    return a.astype(np.float64) / 255.0


def load_prediction(path: PathLike) -> Union[np.ndarray, List[np.ndarray]]:
    """Load a benchmark input from disk, like ``evaluation_bdry_image`` does.

    Arguments:
        path: an image (soft boundary map, read by :func:`read_prediction_png`), a ``.mat`` with
            ``ucm2`` (doubleSize ultrametric map; returns ``ucm2[2::2, 2::2]``) or ``segs`` (returns
            the list of boundary maps of the segmentations), or a ``.npy`` soft map.

    Returns:
        a HxW float map, or a list of HxW bool maps (segmentation input).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".mat":
        m = _loadmat(p)
        if "ucm2" in m:
            return np.asarray(m["ucm2"], dtype=np.float64)[2::2, 2::2].copy()
        if "segs" in m:
            return [seg_to_boundaries(s) for s in _cells(m["segs"])]
        raise ValueError(f"{p}: a .mat input must hold 'ucm2' or 'segs'")
    if suffix == ".npy":
        return np.asarray(np.load(p), dtype=np.float64)
    return read_prediction_png(p)
