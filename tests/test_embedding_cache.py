"""The embedding cache: second run encodes nothing and gives identical records."""

import numpy as np
import torch

from sambench.app.embedding_cache import EmbeddingCache
from sambench.models import build_model


def test_cache_hits_return_the_same_embedding(tmp_path):
    model = build_model("sam-tiny", device="cpu")
    images = [np.random.default_rng(i).integers(0, 255, (50, 70, 3), dtype=np.uint8) for i in range(3)]
    cache = EmbeddingCache(tmp_path, model)
    first = cache.encode_batch(images)
    assert (cache.hits, cache.misses) == (0, 3)
    calls = []
    original = model.encode_batch
    model.encode_batch = lambda *a, **k: calls.append(1) or original(*a, **k)
    again = EmbeddingCache(tmp_path, model).encode_batch(images)
    assert calls == []
    for a, b in zip(first, again):
        assert torch.equal(a.features, b.features) and a.original_size == b.original_size and a.extra == b.extra


def test_another_model_does_not_share_entries(tmp_path):
    a = EmbeddingCache(tmp_path, build_model("sam-tiny", seed=0))
    b = EmbeddingCache(tmp_path, build_model("sam-tiny", seed=1))
    assert a.dir != b.dir


def test_point_run_with_cache_equals_run_without(tmp_path, demo_root):
    from conftest import run_cli

    base = ["run", "point", "--model", "sam-tiny", "--dataset", "demo", "--root", demo_root, "--points", "1,2",
            "--no-progress"]
    run_cli(*base, "--out", tmp_path / "plain")
    run_cli(*base, "--out", tmp_path / "c1", "--embedding-cache", tmp_path / "emb")
    run_cli(*base, "--out", tmp_path / "c2", "--embedding-cache", tmp_path / "emb")
    read = lambda p: (p / "records" / "records-rank0.csv").read_text()  # noqa: E731
    assert read(tmp_path / "plain") == read(tmp_path / "c1") == read(tmp_path / "c2")
    assert len(list((tmp_path / "emb").rglob("*.pt"))) == 8
