"""What `sambench list models` shows: family, size, source, weights and capabilities per registered name.

The capabilities listed for a name are the ones its adapter declares once built (a test builds
every model that needs no checkpoint, and random-weight members of the checkpoint families, and
compares). ``hf`` reads them from the checkpoint's own modules, so the table says so.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Dict, List, Optional

from .base import Capabilities

SAM_CAPS = Capabilities(points=True, negative_points=True, boxes=True, mask_input=True, multimask=True,
                        n_multimask=3, input_size=1024)
HQ_CAPS = dataclasses.replace(SAM_CAPS, multimask=False, n_multimask=1)  # MaskDecoderHQ returns one mask

# registered names outside the family loops of sambench.models (capabilities: a Capabilities or "module:Class")
BUILTIN: Dict[str, dict] = {
    **{f"sam-vit_{a}": dict(family="SAM", size=f"ViT-{a.upper()}", source="segment_anything", caps=SAM_CAPS)
       for a in "hlb"},
    "sam-tiny": dict(family="SAM", size="tiny", source="segment_anything", weights="untrained",
                     caps=dataclasses.replace(SAM_CAPS, input_size=256)),
    "sam2-tiny": dict(family="SAM 2.1", size="tiny", source="sam2", weights="untrained",
                      caps=dataclasses.replace(SAM_CAPS, input_size=256)),
    "sam-hq-tiny": dict(family="HQ-SAM", size="tiny", source="segment_anything_hq", weights="untrained",
                        caps=dataclasses.replace(HQ_CAPS, input_size=256)),
    "hf": dict(family="(config.json)", size="(config.json)", source="transformers", caps=None),
    "random-walker": dict(source="sambench", weights="weight-free", caps="sambench.models.classical:RandomWalker"),
    "oracle": dict(source="sambench", weights="oracle", caps="sambench.models.oracle:Oracle"),
    **{n: dict(source="sambench", weights="weight-free", caps="sambench.models.edge_baselines:EdgeDetector")
       for n in ("sobel", "canny", "felzenszwalb")},
    "sam3": dict(family="SAM 3", size="concepts", source="transformers", text=True,
                 caps="sambench.models.text:TextPromptableModel"),
    "text-oracle": dict(source="sambench", weights="oracle", text=True, caps="sambench.models.text:TextOracle"),
}


def family_capabilities(name: str, info: dict) -> Optional[Capabilities]:
    """Static capabilities of a family entry registered in sambench.models (MODEL_INFO)."""
    if info.get("source") == "segment_anything_hq":
        return HQ_CAPS
    if info.get("size") == "tiny":  # the transformers tiny configs: 256 px, SAM 3's 224 px
        return dataclasses.replace(SAM_CAPS, input_size=224 if "sam3" in name else 256)
    return SAM_CAPS


def model_info(name: str) -> dict:
    """family, size, source, weights and capabilities (Capabilities, or None when read from a checkpoint)
    of a registered model; {"source": "user plugin"} for names from entry points or files."""
    from . import MODEL_INFO, MODELS

    if name in BUILTIN:
        info = dict(BUILTIN[name])
        caps = info.get("caps")
        if isinstance(caps, str):
            module, cls = caps.split(":")
            info["caps"] = getattr(importlib.import_module(module), cls).capabilities
        return info
    if name in MODEL_INFO:
        info = dict(MODEL_INFO[name])
        info["caps"] = family_capabilities(name, info)
        return info
    builder = MODELS.get(name)
    module = getattr(builder, "__module__", None) or getattr(getattr(builder, "func", None), "__module__", "")
    return {"source": "sambench" if str(module).startswith("sambench") else "user plugin", "caps": None}


def model_rows() -> List[dict]:
    """One row per registered model for `sambench list models`."""
    from . import MODELS

    yes = lambda v: "yes" if v else "-"  # noqa: E731
    rows = []
    for name, description in MODELS.describe().items():
        info = model_info(name)
        caps: Optional[Capabilities] = info.get("caps")
        known = caps is not None
        unknown = "config" if info.get("source") == "transformers" else "?"
        rows.append({
            "name": name, "family": info.get("family") or "-", "size": info.get("size") or "-",
            "source": info.get("source") or "-", "weights": info.get("weights", "trained"),
            "points": yes(caps.points) if known else unknown,
            "neg. points": yes(caps.negative_points) if known else unknown,
            "boxes": yes(caps.boxes) if known else unknown,
            "mask in": yes(caps.mask_input) if known else unknown,
            "masks": (str(caps.n_multimask) if caps.multimask else "1") if known else unknown,
            "input": (str(caps.input_size) if caps.input_size else "any") if known else unknown,
            "text": "yes" if info.get("text") else "-",
            "description": description,
        })
    return rows


def format_model_table(rows: List[dict]) -> str:
    """``rows`` as an aligned text table (description last)."""
    if not rows:
        return ""
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols[:-1]}
    line = lambda r: "  ".join(f"{str(r[c]):<{widths[c]}}" for c in cols[:-1]) + "  " + str(r[cols[-1]])  # noqa: E731
    header = {c: c for c in cols}
    return "\n".join([line(header), line({c: "-" * widths.get(c, 11) for c in cols})] + [line(r) for r in rows])
