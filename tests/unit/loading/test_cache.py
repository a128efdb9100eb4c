"""Models kept per process, and the bounded FIFO store behind them and the backends."""

import os
import shutil

from plmkit import loading
from plmkit.loading import BoundedCache


def test_bounded_cache_drops_the_oldest_when_full():
    cache = BoundedCache(size=2)
    made = []

    def maker(value):
        def make():
            made.append(value)
            return value

        return make

    assert cache.get_or_make("a", maker(1)) == 1
    assert cache.get_or_make("b", maker(2)) == 2
    assert cache.get_or_make("a", maker(99)) == 1  # kept: not made again
    assert cache.get_or_make("c", maker(3)) == 3  # full: "a", the first added, goes
    assert "a" not in cache and "b" in cache and "c" in cache and len(cache) == 2
    assert made == [1, 2, 3]
    cache.put("b", 20)  # replacing a key evicts nothing
    assert len(cache) == 2 and list(cache.values()) == [20, 3]
    cache.put("d", 4)
    assert "b" not in cache and list(cache.values()) == [3, 4]


def test_bounded_cache_clear_and_failed_make():
    cache = BoundedCache(size=1)
    cache.put("a", 1)
    try:
        cache.get_or_make("b", lambda: 1 / 0)
    except ZeroDivisionError:
        pass
    assert "b" not in cache
    cache.put("c", 3)
    cache.clear()
    assert len(cache) == 0 and list(cache.values()) == []


def test_cache_reloads_rewritten_directories(tmp_path, tiny_bert_dir):
    shutil.copytree(tiny_bert_dir, tmp_path / "m")
    first = loading.cached("encoder", str(tmp_path / "m"))
    assert loading.cached("encoder", str(tmp_path / "m")) is first
    weights = tmp_path / "m" / "model.safetensors"
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 10))
    assert loading.cached("encoder", str(tmp_path / "m")) is not first


def test_clear_forgets_every_cached_model(tiny_bert_dir):
    tokenizer = loading.cached("tokenizer", str(tiny_bert_dir))
    assert loading.cached("tokenizer", str(tiny_bert_dir)) is tokenizer
    loading.clear()
    assert loading.cached("tokenizer", str(tiny_bert_dir)) is not tokenizer


def test_cache_keeps_at_most_kept_models(tmp_path, tiny_bert_dir):
    loading.clear()
    copies = [shutil.copytree(tiny_bert_dir, tmp_path / f"m{i}") for i in range(7)]
    first = loading.cached("tokenizer", str(copies[0]))
    assert loading.cached("tokenizer", str(copies[0])) is first
    for copy in copies[1 : loading.KEPT_MODELS]:
        loading.cached("tokenizer", str(copy))
    assert loading.cached("tokenizer", str(copies[0])) is first  # six kept
    loading.cached("tokenizer", str(copies[loading.KEPT_MODELS]))  # the seventh
    assert loading.cached("tokenizer", str(copies[0])) is not first  # the oldest went
    loading.clear()
