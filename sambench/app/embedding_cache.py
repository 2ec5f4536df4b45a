"""A disk cache of image embeddings, keyed by model fingerprint and image content.

The image encoder is the expensive part of a promptable model (hundreds of ms per image for
ViT-H on a GPU); every task and protocol decodes against the same embedding. With
``--embedding-cache DIR`` each (model, image) pair is encoded once across runs.

Validity: the folder for a model is named by the SHA-256 of its fingerprint (architecture,
checkpoint hash, options) and the package versions that change the encoder's arithmetic (torch,
segment-anything); an entry is named by the SHA-256 of the image's pixels and shape. Only
models that declare ``cacheable = True`` (their ``ImageEmbedding.features`` is a tensor) use it.
Entries are written atomically, so an interrupted write never leaves a corrupt entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from sambench.data import Sample
from sambench.models.base import ImageEmbedding, PromptableModel, model_identity


def model_signature(model: PromptableModel) -> str:
    from sambench.app.store import package_versions

    fp = {k: v for k, v in model_identity(model).items() if k not in ("checkpoint", "label")}
    versions = package_versions()
    fp["versions"] = {k: versions.get(k) for k in ("torch", "segment-anything")}
    fp["device_type"] = torch.device(getattr(model, "device", "cpu")).type
    hook = getattr(model, "speed_settings", None)  # knobs that change the encoder's rounding
    if callable(hook):
        knobs = hook()
        fp["numerics"] = {k: knobs.get(k) for k in ("dtype", "attention", "compiled_encoder") if k in knobs}
    return hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()


def image_key(image: np.ndarray) -> str:
    h = hashlib.sha256(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


class EmbeddingCache:
    """Embeddings of one model under ``root/<model signature>/<image hash>.pt``."""

    def __init__(self, root, model: PromptableModel):
        self.model = model
        self.dir = Path(root).expanduser() / model_signature(model)
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "model.json"
        if not meta.exists():
            meta.write_text(json.dumps(model_identity(model), indent=1, default=str))
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.pt"

    def get(self, image: np.ndarray) -> Optional[ImageEmbedding]:
        path = self._path(image_key(image))
        if not path.is_file():
            return None
        try:
            data = torch.load(path, map_location=self.model.device, weights_only=True)
        except Exception:  # a damaged entry is recomputed, and overwritten on put
            return None
        return ImageEmbedding(original_size=tuple(data["original_size"]), features=data["features"],
                              extra={k: tuple(v) if isinstance(v, list) else v for k, v in data["extra"].items()})

    def put(self, image: np.ndarray, embedding: ImageEmbedding) -> None:
        path = self._path(image_key(image))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"original_size": list(embedding.original_size), "features": embedding.features.detach().cpu(),
                    "extra": {k: list(v) if isinstance(v, tuple) else v for k, v in embedding.extra.items()}}, tmp)
        tmp.replace(path)

    def encode_batch(self, images: Sequence[np.ndarray], samples: Optional[Sequence[Sample]] = None) -> List[ImageEmbedding]:
        """``model.encode_batch`` with cached entries reused and new ones stored."""
        out: List[Optional[ImageEmbedding]] = [self.get(im) for im in images]
        todo = [i for i, e in enumerate(out) if e is None]
        self.hits += len(images) - len(todo)
        self.misses += len(todo)
        if todo:
            fresh = self.model.encode_batch([images[i] for i in todo],
                                            None if samples is None else [samples[i] for i in todo])
            for i, emb in zip(todo, fresh):
                self.put(images[i], emb)
                out[i] = emb
        return out  # type: ignore[return-value]
