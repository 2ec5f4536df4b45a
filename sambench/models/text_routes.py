"""Composing a text route around a promptable mask model from command-line choices.

``--detector NAME --detector-checkpoint DIR`` (or ``--detections FILE``) gives
``sambench.models.text.DetectorPromptedModel``; ``--clip NAME`` gives
``sambench.models.text_clip.ClipRankedMasks``; nothing leaves the model as it is (a text-native
model such as ``sam3``, or ``text-oracle``).
"""

from __future__ import annotations

from typing import Optional

from .base import PromptableModel
from .detectors import build_detector
from .text import DetectorPromptedModel, TextPromptableModel


def compose_text_route(model: PromptableModel, detector: Optional[str] = None,
                       detector_checkpoint: Optional[str] = None, detector_options: Optional[dict] = None,
                       detections: Optional[str] = None, clip: Optional[str] = None,
                       clip_checkpoint: Optional[str] = None, clip_options: Optional[dict] = None,
                       device: Optional[str] = None) -> PromptableModel:
    """The text route the command line asks for around the mask model ``model``.

    Arguments:
      detector, detector_checkpoint, detector_options: a registered detector
        (``sambench.models.detectors.DETECTORS``) and its checkpoint (a ``save_pretrained`` folder).
      detections: a precomputed detections file instead (COCO results with ``phrase`` or ``category_id``).
      clip, clip_checkpoint, clip_options: an open_clip model name (or ``local-dir:PATH``) and weights,
        to rank the mask model's automatic masks by similarity to each phrase.
    Returns:
      ``model`` itself when nothing is asked for, else the composed TextPromptableModel.
    Raises:
      ValueError: more than one route asked for.
    """
    asked = [n for n, v in (("--detector", detector), ("--detections", detections), ("--clip", clip)) if v]
    if len(asked) > 1:
        raise ValueError(f"give one text route, not {' and '.join(asked)}")
    if detector_checkpoint and not detector:
        raise ValueError("--detector-checkpoint needs --detector NAME")
    if clip_checkpoint and not clip:
        raise ValueError("--clip-checkpoint needs --clip NAME")
    if not asked:
        return model
    if isinstance(model, TextPromptableModel):
        raise ValueError(f"model '{model.name}' already answers text; {asked[0]} composes a text route around a "
                         f"promptable mask model (SAM, SAM 2, ...)")
    if detections:
        return DetectorPromptedModel(build_detector("precomputed", detections, device), model)
    if detector:
        opts = dict(detector_options or {})
        max_batch = int(opts.pop("max_batch", 256))
        return DetectorPromptedModel(build_detector(detector, detector_checkpoint, device, **opts), model,
                                     max_batch=max_batch)
    from .text_clip import ClipRankedMasks

    return ClipRankedMasks(model, clip, clip_checkpoint, device=device, **(clip_options or {}))
