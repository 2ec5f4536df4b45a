"""The BSDS500 boundary benchmark (Arbelaez et al.), re-implemented in Python.

This package reproduces, step by step, the official MATLAB benchmark shipped with BSDS500
(``bench/benchmarks/boundaryBench.m``, ``evaluation_bdry_image.m``, ``collect_eval_bdry.m``)
and D. Martin's ``correspondPixels`` (``match.cc``, a CSA min-cost assignment):

* :func:`correspond_pixels` -- one-to-one matching of the boundary pixels of two maps, pixels
  farther apart than ``max_dist`` x image diagonal never match, unmatched pixels pay an outlier
  cost.  Same graph, same integer costs (distances x 100, rounded) and the same outlier cost as
  ``match.cc``; the only difference is that ``match.cc`` connects outliers to a *random* sparse
  subset of other outliers (degree 6) before running CSA, which makes its optimum (slightly)
  random, while here the outlier structure is complete (an exact, deterministic optimum of the
  same objective).  The solver is a sparse shortest-augmenting-path (Jonker-Volgenant style)
  assignment written with numba.
* :func:`evaluate_boundary_image` -- ``evaluation_bdry_image``: thresholds, ``pb >= t``,
  ``bwmorph(.., 'thin', inf)``, matching against every annotator, counts ``cntR sumR cntP sumP``.
* :func:`collect_results` -- ``collect_eval_bdry``: ODS (interpolated best F of the summed
  counts), OIS, AP (area under the interpolated PR curve exactly as the benchmark computes it),
  plus R50 (recall at 50 % precision) and the PR curve.
* :class:`BoundaryEvaluator` -- runs images in parallel (deterministically) and writes the
  benchmark's own text files ``eval_bdry.txt``, ``eval_bdry_img.txt``, ``eval_bdry_thr.txt``.

Inputs follow the benchmark: a soft boundary map in [0, 1] (a PNG is read as ``value / 255``), an
ultrametric contour map (``ucm2`` in a ``.mat`` file, "doubleSize" format) or a list of
segmentations (``segs`` in a ``.mat`` file, then the "thresholds" are the segmentation indices
1..K).  Ground truth comes from the BSDS ``groundTruth/*.mat`` files.

The files: ``thinning`` (bwmorph thin, seg2bdry), ``matching`` (correspondPixels), ``counts``
(evaluation_bdry_image), ``scores`` (collect_eval_bdry), ``files`` (reading inputs), ``evaluator``
(boundaryBench over a dataset, in parallel).
"""

from .counts import BoundaryCounts, evaluate_boundary_image, evaluate_boundary_maps, make_thresholds
from .evaluator import BoundaryEvaluator
from .files import load_bsds_ground_truth, load_bsds_segmentations, load_prediction, read_prediction_png
from .matching import DEFAULT_MAX_DIST, DEFAULT_OUTLIER_COST, Correspondence, correspond_pixels
from .scores import BoundaryResult, collect_results, fmeasure
from .thinning import seg_to_boundaries, thin_boundaries

__all__ = [
    "Correspondence",
    "BoundaryCounts",
    "BoundaryResult",
    "BoundaryEvaluator",
    "correspond_pixels",
    "make_thresholds",
    "thin_boundaries",
    "seg_to_boundaries",
    "evaluate_boundary_image",
    "evaluate_boundary_maps",
    "collect_results",
    "fmeasure",
    "load_bsds_ground_truth",
    "load_bsds_segmentations",
    "read_prediction_png",
    "load_prediction",
    "DEFAULT_MAX_DIST",
    "DEFAULT_OUTLIER_COST",
]
