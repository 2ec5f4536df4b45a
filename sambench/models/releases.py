"""Official checkpoint files of the SAM family that sambench knows by name (data only, no imports of the
model packages, so the model registry stays cheap to import).

SAM 2.1 digests: the SHA-256 values other pipelines verify the same downloads against (e.g.
micro-sam's SAM 2.1 registry; sam2.1_hiera_large.pt is 898,083,611 bytes). No published digest is
known to sambench for the July 2024 SAM 2 files or the HQ-SAM files: ``sha256`` is None there and
those files are checked by name and architecture only. SAM 1 files: ``sambench.models.sam``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

URL_2_1 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/{file}"
URL_2_0 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/{file}"


@dataclass(frozen=True)
class Sam2Release:
    """One official checkpoint: Hydra config name, file name, SHA-256 (None: not established)."""

    config: str
    file: str
    family: str
    size: str
    url: str
    sha256: Optional[str] = None


OFFICIAL_SAM2: Dict[str, Sam2Release] = {
    "sam2.1-hiera-t": Sam2Release("configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt", "SAM 2.1", "Hiera-T",
                                  URL_2_1, "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69"),
    "sam2.1-hiera-s": Sam2Release("configs/sam2.1/sam2.1_hiera_s.yaml", "sam2.1_hiera_small.pt", "SAM 2.1", "Hiera-S",
                                  URL_2_1, "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38"),
    "sam2.1-hiera-b+": Sam2Release("configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_hiera_base_plus.pt", "SAM 2.1",
                                   "Hiera-B+", URL_2_1,
                                   "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5"),
    "sam2.1-hiera-l": Sam2Release("configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_large.pt", "SAM 2.1", "Hiera-L",
                                  URL_2_1, "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318"),
    "sam2-hiera-t": Sam2Release("configs/sam2/sam2_hiera_t.yaml", "sam2_hiera_tiny.pt", "SAM 2", "Hiera-T", URL_2_0),
    "sam2-hiera-s": Sam2Release("configs/sam2/sam2_hiera_s.yaml", "sam2_hiera_small.pt", "SAM 2", "Hiera-S", URL_2_0),
    "sam2-hiera-b+": Sam2Release("configs/sam2/sam2_hiera_b+.yaml", "sam2_hiera_base_plus.pt", "SAM 2", "Hiera-B+",
                                 URL_2_0),
    "sam2-hiera-l": Sam2Release("configs/sam2/sam2_hiera_l.yaml", "sam2_hiera_large.pt", "SAM 2", "Hiera-L", URL_2_0),
}
HQ_URL = "https://huggingface.co/lkeab/hq-sam/resolve/main/{file}"
OFFICIAL_HQ: Dict[str, dict] = {
    "vit_h": {"file": "sam_hq_vit_h.pth", "size": "ViT-H"},
    "vit_l": {"file": "sam_hq_vit_l.pth", "size": "ViT-L"},
    "vit_b": {"file": "sam_hq_vit_b.pth", "size": "ViT-B"},
    "vit_tiny": {"file": "sam_hq_vit_tiny.pth", "size": "TinyViT"},
}


def load_fitting(module, state: dict, path: Path, what: str, hint: str = "") -> None:
    """Load ``state`` into ``module`` if every key is there with its shape; else one-line CheckpointError.

    Arguments:
      what: the model's name for the message ("sam2.1-hiera-l"); hint: appended to the message.
    """
    from .sam import CheckpointError

    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        eg = ", ".join(missing[:2] + unexpected[:2] + shapes[:2])
        raise CheckpointError(f"{path}: does not fit {what} ({len(missing)} missing, {len(unexpected)} unexpected, "
                              f"{len(shapes)} other-shape keys, e.g. {eg}){hint}")
    module.load_state_dict(state, strict=True)
