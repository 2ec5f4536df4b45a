"""Any Hugging Face checkpoint of the SAM family: ``--model hf --checkpoint DIR_OR_ID``.

The architecture is read from the checkpoint's ``config.json`` (``model_type``):

| model_type | class (transformers >= 5) | processor | family |
|---|---|---|---|
| sam | SamModel | SamProcessor | SAM |
| sam_hq | SamHQModel | SamHQProcessor | HQ-SAM |
| sam2, sam2_video | Sam2Model | Sam2Processor | SAM 2 / 2.1 |
| sam3_tracker, sam3_video | Sam3TrackerModel (points, boxes, masks) | Sam3TrackerProcessor | SAM 3 |
| edgetam, edgetam_video | EdgeTamModel | Sam2Processor | EdgeTAM |

``DIR`` is a ``save_pretrained`` folder (model and processor) and works offline. An ``org/name``
hub id is fetched with ``huggingface_hub.snapshot_download`` (config, processor, safetensors only)
and fails in one line when offline (``HF_HUB_OFFLINE=1`` is respected: the local cache only). Only
``.safetensors`` weights are loaded, never pickled ``.bin`` files; a checkpoint that leaves any
weight of the class uninitialised is refused. The fingerprint records the model class, the SHA-256
of the config and processor settings, the SHA-256 of every weight file (and the hub revision).
The adapters themselves are in ``sambench.models.hf_adapters``.

Every folder, here and for the text routes, goes through :func:`load_pretrained`; before
transformers reads anything it checks each ``.safetensors`` header (a corrupt or truncated file is
refused by name) and that the JSON files transformers reads parse; after loading, a processor with a
tokenizer must tokenize ordinary words (a folder missing ``tokenizer.json`` otherwise yields a
tokenizer that maps every word to its unknown token).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

from .base import sha256_file
from .hf_adapters import make_adapter
from .extras import MissingExtraError, require
from .sam import CheckpointError, resolve_device


@dataclass(frozen=True)
class HFArchitecture:
    """How one ``model_type`` is loaded and named."""

    model_class: str
    processor_class: str
    family: str
    kind: str  # "sam" (SamModel-like decoder API) or "sam2" (multi-level features, Sam2Model-like)


HF_ARCHITECTURES: Dict[str, HFArchitecture] = {
    "sam": HFArchitecture("SamModel", "SamProcessor", "SAM", "sam"),
    "sam_hq": HFArchitecture("SamHQModel", "SamHQProcessor", "HQ-SAM", "sam"),
    "sam2": HFArchitecture("Sam2Model", "Sam2Processor", "SAM 2", "sam2"),
    "sam2_video": HFArchitecture("Sam2Model", "Sam2Processor", "SAM 2", "sam2"),
    "sam3_tracker": HFArchitecture("Sam3TrackerModel", "Sam3TrackerProcessor", "SAM 3", "sam2"),
    "sam3_video": HFArchitecture("Sam3TrackerModel", "Sam3TrackerProcessor", "SAM 3", "sam2"),
    "edgetam": HFArchitecture("EdgeTamModel", "Sam2Processor", "EdgeTAM", "sam2"),
    "edgetam_video": HFArchitecture("EdgeTamModel", "Sam2Processor", "EdgeTAM", "sam2"),
}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MARKER = "sambench.json"  # written beside tiny random folders: {"weights": "untrained", ...}
SETTINGS_SUFFIXES = (".json", ".txt", ".model")  # config, tokenizer and processor files (what a hub id fetches)
# the JSON files transformers reads from a save_pretrained folder: each must parse before it is handed over
TRANSFORMERS_JSON = {"config.json", "generation_config.json", "preprocessor_config.json", "processor_config.json",
                     "video_preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json", "added_tokens.json", "vocab.json", "chat_template.json"}
TOKENIZER_PROBE = "a photo of a dog and a cat"  # ordinary lower-case words every real tokenizer knows
VOCABULARY_FILES = ("vocab.json", "merges.txt", "vocab.txt", "spiece.model", "sentencepiece.bpe.model",
                    "tokenizer.model")


def import_transformers():
    """transformers >= 5, or MissingExtraError naming ``pip install 'sambench[hf]'``."""
    tf = require("transformers", "hf")
    if int(tf.__version__.split(".")[0]) < 5:
        raise MissingExtraError(f"transformers {tf.__version__} is too old for the SAM family classes (>= 5 needed); "
                                f"run: pip install 'sambench[hf]'")
    return tf


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE asks for the local cache only."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def resolve_checkpoint(checkpoint: str, revision: Optional[str] = None) -> Tuple[Path, Optional[str], Optional[str]]:
    """A local folder for ``checkpoint`` (a folder, or a hub id fetched into the HF cache).

    Returns:
      (folder, hub id or None, hub revision (commit) or None).
    Raises:
      CheckpointError (one line): not a folder, no such hub id, offline without a cached copy.
    """
    path = Path(checkpoint).expanduser()
    if path.exists():
        if not path.is_dir():
            raise CheckpointError(f"{path}: --model hf takes a save_pretrained folder (config.json + *.safetensors) "
                                  f"or a hub id, not a file")
        return path, None, None
    if not HUB_ID.match(checkpoint):
        raise CheckpointError(f"{checkpoint}: no such folder, and not a hub id (org/name)")
    from huggingface_hub import snapshot_download

    offline = hub_offline()
    try:
        folder = snapshot_download(checkpoint, revision=revision, local_files_only=offline,
                                   cache_dir=os.environ.get("HF_HUB_CACHE") or None,  # read now, not at import
                                   allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
    except Exception as exc:  # offline, unknown repo, gated, network: one line each
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if offline:
            raise CheckpointError(f"{checkpoint}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set "
                                  f"(download it once online, or pass a save_pretrained folder)") from exc
        raise CheckpointError(f"{checkpoint}: could not fetch from the Hugging Face hub ({type(exc).__name__}: "
                              f"{reason[:160]}); pass a local save_pretrained folder, or set HF_HUB_OFFLINE=1 "
                              f"to use the local cache") from exc
    folder = Path(folder)
    return folder, checkpoint, folder.name  # snapshot folders are named by their commit


def read_model_type(folder: Path) -> Tuple[str, dict]:
    """``model_type`` of ``folder/config.json`` and the raw config; CheckpointError if absent or unsupported."""
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise CheckpointError(f"{folder}: no config.json (expected a save_pretrained folder)")
    try:
        raw = json.loads(cfg.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    model_type = raw.get("model_type")
    if model_type == "sam3":
        raise CheckpointError(f"{cfg}: model_type 'sam3' is SAM 3's concept (text) model; point and box prompts "
                              f"run on its tracker: a sam3_tracker or sam3_video checkpoint (Sam3TrackerModel)")
    if model_type not in HF_ARCHITECTURES:
        raise CheckpointError(f"{cfg}: model_type '{model_type}' is not a SAM-family image model sambench loads "
                              f"(known: {', '.join(HF_ARCHITECTURES)})")
    return model_type, raw


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), at most 200 characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def check_safetensors(path: Path) -> None:
    """Open ``path``'s header with safetensors (which checks that the header parses and that its tensors'
    offsets cover the file exactly); CheckpointError naming the file when it does not."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as exc:  # SafetensorError (truncated, garbage, empty), OSError: one line each
        size = path.stat().st_size if path.is_file() else 0
        raise CheckpointError(f"{path}: corrupt or truncated .safetensors file ({first_line(exc)}; {size} bytes)") from None


def weight_digests(folder: Path) -> Dict[str, str]:
    """SHA-256 of every .safetensors file of ``folder``; CheckpointError when there is none or one of them
    is corrupt or truncated (:func:`check_safetensors`)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = sorted(p.name for p in folder.glob("*.bin"))
        extra = f" ({', '.join(pickles)} are pickles, which sambench does not load)" if pickles else ""
        raise CheckpointError(f"{folder}: no .safetensors weights{extra}")
    for p in files:
        check_safetensors(p)
    return {p.name: sha256_file(p) for p in files}


def settings_file_digests(folder: Path) -> Dict[str, str]:
    """SHA-256 of the folder's non-weight files (every ``*.json``, ``*.txt``, ``*.model``: config,
    tokenizer and processor files; not the ``sambench.json`` marker, recorded as ``weights``).

    Raises:
      CheckpointError (one line) naming a JSON file transformers reads that does not parse.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SETTINGS_SUFFIXES and p.name != MARKER)
    for p in files:
        if p.name in TRANSFORMERS_JSON or p.name.endswith(".safetensors.index.json"):
            try:
                json.loads(p.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                raise CheckpointError(f"{p}: not UTF-8 text (a JSON file was expected)") from None
            except json.JSONDecodeError as exc:
                raise CheckpointError(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    return {p.name: sha256_file(p) for p in files}


def combined_digest(digests: Dict[str, str]) -> str:
    """One SHA-256 for a set of weight files: the single file's own digest, else a digest of the sorted list."""
    if len(digests) == 1:
        return next(iter(digests.values()))
    text = "".join(f"{name}:{digest}\n" for name, digest in sorted(digests.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def describe_size(model_type: str, config) -> str:
    """The released size a config matches ("ViT-H", "Hiera-L", ...) or a short description of its widths."""
    if model_type in ("sam", "sam_hq"):
        v = config.vision_config
        return {(768, 12): "ViT-B", (1024, 24): "ViT-L", (1280, 32): "ViT-H"}.get(
            (v.hidden_size, v.num_hidden_layers), f"ViT {v.hidden_size}d/{v.num_hidden_layers}L")
    if model_type in ("sam2", "sam2_video"):
        b = config.vision_config.backbone_config
        return {(96, (1, 2, 7, 2)): "Hiera-T", (96, (1, 2, 11, 2)): "Hiera-S", (112, (2, 3, 16, 3)): "Hiera-B+",
                (144, (2, 6, 36, 4)): "Hiera-L"}.get((b.hidden_size, tuple(b.blocks_per_stage)),
                                                     f"Hiera {b.hidden_size}d/{sum(b.blocks_per_stage)}L")
    if model_type.startswith("sam3"):
        return "tracker"
    backbone = getattr(config.vision_config.backbone_config, "architecture", None) or "?"
    return {"repvit_m1": "RepViT-M1"}.get(backbone, backbone)


def describe_family(arch: HFArchitecture, checkpoint_name: str) -> str:
    """"SAM 2.1" when the checkpoint's name says so (the config does not tell SAM 2 from 2.1)."""
    if arch.family == "SAM 2" and re.search(r"2\.1|2p1|2_1", checkpoint_name):
        return "SAM 2.1"
    return arch.family


def load_pretrained(folder: Path, model_cls, processor_cls, device, what: str):
    """One ``save_pretrained`` folder: the loader of every transformers model sambench runs (the SAM
    family of ``--model hf``, SAM 3's text model, the text detectors).

    Only ``.safetensors`` weights are read (never pickled ``.bin`` files), from the folder alone
    (``local_files_only``), after each file's header is checked; a folder that leaves any weight of
    ``model_cls`` uninitialised or of another shape is refused rather than run with random weights
    in its place; a processor whose tokenizer turns ordinary words into its unknown token is refused.
    transformers' own load report (a multi-line table) is kept off the terminal: the refusals say
    what it would.

    Arguments:
      folder: the folder (``config.json``, ``*.safetensors``, the processor's files).
      model_cls, processor_cls: transformers classes (``processor_cls.from_pretrained(folder)``).
      device: torch device; what: the model's name in messages.
    Returns:
      (model in eval mode on ``device``, processor, provenance: ``weight_files`` {name: SHA-256},
      ``checkpoint_sha256`` (``combined_digest``), ``config_files`` {name: SHA-256} of the config,
      tokenizer and processor files (:func:`settings_file_digests`), ``weights`` ("trained" unless the
      folder's ``sambench.json`` says otherwise)).
    Raises:
      CheckpointError (one line): no safetensors or a corrupt one, a JSON file that does not parse, an
      unreadable marker, transformers cannot load the folder, missing or mismatched weights, no usable
      processor files, a tokenizer without its vocabulary.
    """
    tf = import_transformers()
    digests = weight_digests(folder)  # refuses folders without safetensors, or a corrupt one, before transformers
    settings = settings_file_digests(folder)
    weights = weights_kind(folder)
    progress = tf.utils.logging.is_progress_bar_enabled()
    verbosity = tf.utils.logging.get_verbosity()
    tf.utils.logging.disable_progress_bar()  # no per-load progress bars in a run's output
    tf.utils.logging.set_verbosity_error()  # nor the load report: the refusals below name what it lists
    try:
        try:
            model, info = model_cls.from_pretrained(folder, use_safetensors=True, output_loading_info=True,
                                                    local_files_only=True, ignore_mismatched_sizes=True)
        except Exception as exc:  # a config transformers cannot build the class from, an unreadable file: one line
            raise CheckpointError(f"{folder}: {model_cls.__name__} could not load it "
                                  f"({type(exc).__name__}: {first_line(exc)})") from exc
        refuse_unloaded_weights(folder, info, model_cls.__name__, what)
        try:
            processor = processor_cls.from_pretrained(folder, local_files_only=True)
        except Exception as exc:
            if not any((folder / n).is_file() for n in ("processor_config.json", "preprocessor_config.json")):
                raise CheckpointError(f"{folder}: no processor settings for {what} (processor_config.json or "
                                      f"preprocessor_config.json); save the processor too: "
                                      f"processor.save_pretrained(DIR)") from exc
            files = [n for n in settings if n not in ("config.json", "generation_config.json")
                     and not n.endswith(".index.json")]
            raise CheckpointError(f"{folder}: {processor_cls.__name__} could not load the processor files "
                                  f"({', '.join(files)}: {type(exc).__name__}: {first_line(exc)})") from exc
        check_tokenizer(folder, processor, what)
    finally:
        tf.utils.logging.set_verbosity(verbosity)
        if progress:
            tf.utils.logging.enable_progress_bar()
    provenance = {"weight_files": digests, "checkpoint_sha256": combined_digest(digests), "config_files": settings,
                  "weights": weights}
    return model.to(device).eval(), processor, provenance


def refuse_unloaded_weights(folder: Path, info: dict, class_name: str, what: str) -> None:
    """CheckpointError (one line) when ``from_pretrained``'s loading info lists missing weights or weights
    of another shape (``mismatched_keys``: (name, shape in the file, shape the class expects))."""
    missing = sorted(str(k) for k in info.get("missing_keys") or [])
    mismatched = sorted(info.get("mismatched_keys") or [], key=str)
    if not missing and not mismatched:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} weights of {class_name} are missing (e.g. {', '.join(missing[:3])})")
    if mismatched:
        shape = lambda s: "x".join(str(int(d)) for d in s)  # noqa: E731
        notes = [f"{m[0]}: {shape(m[1])} in the file, {shape(m[2])} expected"
                 if isinstance(m, (tuple, list)) and len(m) == 3 else str(m) for m in mismatched[:3]]
        parts.append(f"{len(mismatched)} weights of {class_name} have another shape than its config gives "
                     f"(e.g. {'; '.join(notes)})")
    raise CheckpointError(f"{folder}: {' and '.join(parts)}; refusing to run {what} with random weights in "
                          f"their place")


def check_tokenizer(folder: Path, processor, what: str) -> None:
    """Refuse (one line) a processor whose tokenizer cannot tokenize ordinary words: some token of
    ``TOKENIZER_PROBE`` is its unknown token, or none is an ordinary one. transformers builds such a
    tokenizer, without a word of warning, from a folder lacking ``tokenizer.json`` and the vocabulary
    files; every phrase would then read the same. Character-level vocabularies pass (every letter is
    known). Processors without a tokenizer (the SAM family's) are not checked."""
    tok = getattr(processor, "tokenizer", None)
    if tok is None:
        return
    name = f"the {type(tok).__name__} of {what}"
    try:
        ids = [int(i) for i in tok(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]]
    except Exception as exc:
        raise CheckpointError(f"{folder}: {name} cannot tokenize text ({type(exc).__name__}: {first_line(exc)})") from exc
    unk = tok.unk_token_id
    special = set(tok.all_special_ids or [])
    n_unknown = sum(i == unk for i in ids)
    if n_unknown == 0 and any(i not in special for i in ids):
        return
    present = [n for n in VOCABULARY_FILES if (folder / n).is_file()]
    if not (folder / "tokenizer.json").is_file():
        verb = "does" if len(present) == 1 else "do"
        likely = "tokenizer.json is missing" + (f" and {', '.join(present)} {verb} not hold a usable vocabulary" if present
                                                 else ", and so are the vocabulary files (vocab.json + merges.txt, "
                                                      "vocab.txt or *.model)")
    else:
        likely = "tokenizer.json holds no usable vocabulary"
    raise CheckpointError(f"{folder}: {name} cannot tokenize ordinary words ({n_unknown} of the {len(ids)} tokens "
                          f"of '{TOKENIZER_PROBE}' are its unknown token; vocabulary of {len(tok)}): {likely}; save "
                          f"the tokenizer too: processor.save_pretrained(DIR)")


def read_marker(folder: Path) -> dict:
    """The ``sambench.json`` a tiny random folder carries ({} for real checkpoints).

    Raises:
      CheckpointError (one line) for a marker that is not a JSON object: a model is never labelled
      trained because its marker could not be read.
    """
    marker = folder / MARKER
    if not marker.is_file():
        return {}
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{marker}: not readable JSON ({{\"weights\": \"untrained\"}} expected: {exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{marker}: expected a JSON object ({{\"weights\": \"untrained\"}})")
    return data


def weights_kind(folder: Path) -> str:
    """"untrained" (or what the folder's ``sambench.json`` says), else "trained"."""
    return str(read_marker(folder).get("weights", "trained"))


def build_hf(checkpoint: Optional[str] = None, device: Optional[str] = None, download: bool = False,
             revision: Optional[str] = None, encoder_batch_size: int = 4, hq_token_only: bool = False):
    """``--model hf``: a SAM-family Hugging Face checkpoint (a save_pretrained folder or a hub id).

    Arguments:
      checkpoint: folder or ``org/name`` hub id.
      revision: hub revision (branch, tag or commit) for a hub id.
      encoder_batch_size: images per vision-encoder forward.
      hq_token_only: SamHQModel only: return the HQ token's mask alone (default: SAM's mask + HQ's).
    Raises:
      CheckpointError or MissingExtraError, one line each.
    """
    if not checkpoint:
        raise CheckpointError("--model hf needs --checkpoint DIR_OR_ID (a save_pretrained folder, or a hub id "
                              "such as facebook/sam2.1-hiera-large)")
    folder, hub_id, hub_revision = resolve_checkpoint(str(checkpoint), revision)
    model_type, _ = read_model_type(folder)
    arch = HF_ARCHITECTURES[model_type]
    tf = import_transformers()
    model, processor, loaded = load_pretrained(folder, getattr(tf, arch.model_class), getattr(tf, arch.processor_class),
                                               resolve_device(device), arch.family)
    name_hint = hub_id or folder.name
    # config_files is left out: config_sha256 and processor_sha256 (hf_adapters) already cover what a
    # SAM-family processor reads (it has no tokenizer), and are computed for the in-memory tiny models too
    provenance = {"checkpoint": hub_id or str(folder), "hub_revision": hub_revision,
                  "weight_files": loaded["weight_files"], "checkpoint_sha256": loaded["checkpoint_sha256"]}
    return make_adapter(model, processor, model_type, name="hf", weights=loaded["weights"],
                        family=describe_family(arch, name_hint), size=describe_size(model_type, model.config),
                        checkpoint_tag=name_hint, provenance=provenance,
                        encoder_batch_size=int(encoder_batch_size), hq_token_only=bool(hq_token_only))
