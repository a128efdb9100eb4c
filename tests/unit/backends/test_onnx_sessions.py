"""ONNX Runtime sessions: the optimised graph saved once with its weights beside it, and a
session lent to each run at once."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from forked import in_forked_child

from plmkit.backends import registry

pytestmark = pytest.mark.skipif(
    bool(registry.missing("onnx-int8-partial")), reason="onnxruntime not installed"
)


@pytest.fixture
def exported(tiny_bert_dir, texts):
    """(the int8-partial export of the tiny BERT with no saved optimised copy, its feeds)."""
    import shutil

    from plmkit import loading
    from plmkit.backends.onnx_sessions import saved_graph

    path = loading.onnx_encoder_file(str(tiny_bert_dir), "embed", "int8-partial")
    shutil.rmtree(saved_graph(path).parent, ignore_errors=True)
    feeds = dict(
        loading.cached("tokenizer", str(tiny_bert_dir))(texts, padding=True, return_tensors="np")
    )
    return path, {k: feeds[k].astype(np.int64) for k in ("input_ids", "attention_mask")}


def test_graph_optimised_once_and_reused_with_its_weights_beside_it(exported):
    """The first session saves its optimised graph in a folder beside the export, its weights
    in a file of their own (mapped, so sessions share them); the next session loads that with
    optimisation off and gives the same outputs (ONNX Runtime's offline mode)."""
    import onnxruntime as ort

    from plmkit.backends.onnx_sessions import WEIGHTS_FILE, optimized_session, saved_graph

    path, feeds = exported
    first = optimized_session(path).run(None, feeds)[0]
    saved = saved_graph(path)
    assert sorted(p.name for p in saved.parent.iterdir()) == sorted(["model.onnx", WEIGHTS_FILE])
    weights = (saved.parent / WEIGHTS_FILE).stat().st_size
    assert weights > 0 and saved.stat().st_size < path.stat().st_size - weights / 2  # apart
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, saved.parent.name])
    again = optimized_session(path)
    assert again.get_session_options().graph_optimization_level == (
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    np.testing.assert_allclose(again.run(None, feeds)[0], first, rtol=0, atol=1e-6)


def test_a_session_that_fails_after_writing_leaves_no_partial_files(tmp_path, monkeypatch):
    import onnxruntime as ort

    from plmkit.backends.onnx_sessions import optimized_session

    def fails_after_writing(path, options, providers):  # e.g. out of memory once written
        with open(options.optimized_model_filepath, "wb") as partial:
            partial.write(b"half a graph")
        raise RuntimeError("session creation failed")

    monkeypatch.setattr(ort, "InferenceSession", fails_after_writing)
    (tmp_path / "model.onnx").write_bytes(b"a graph")
    with pytest.raises(RuntimeError, match="session creation failed"):
        optimized_session(tmp_path / "model.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_a_copy_saved_meanwhile_by_another_process_wins(exported, monkeypatch):
    """Two processes optimising the same graph: the one that renames its folder second keeps
    its session and leaves nothing behind."""
    import onnxruntime as ort

    from plmkit.backends.onnx_sessions import optimized_session, saved_graph

    path, feeds = exported
    saved = saved_graph(path)
    real = ort.InferenceSession

    def another_process_saves_first(source, options, providers):
        session = real(source, options, providers=providers)
        saved.parent.mkdir()
        (saved.parent / "model.onnx").write_bytes(b"theirs")
        return session

    monkeypatch.setattr(ort, "InferenceSession", another_process_saves_first)
    session = optimized_session(path)
    assert session.run(None, feeds)[0].shape[0] == len(feeds["input_ids"])
    assert (saved.parent / "model.onnx").read_bytes() == b"theirs"
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, saved.parent.name])


def test_a_read_only_cache_still_gives_a_session(exported, monkeypatch):
    import tempfile

    from plmkit.backends.onnx_sessions import optimized_session, saved_graph

    path, feeds = exported

    def read_only(**kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    assert optimized_session(path).run(None, feeds)[0].shape[0] == len(feeds["input_ids"])
    assert not saved_graph(path).parent.exists()


def test_the_pool_lends_each_run_at_once_its_own_session(exported):
    """A lone caller reuses one session; runs at once get one each, up to the pool's size,
    and the next waits for one to come back."""
    from plmkit.backends.onnx_sessions import SessionPool

    path, feeds = exported
    pool = SessionPool(path, 2)
    with pool.borrow() as first:
        pass
    with pool.borrow() as again:
        assert again is first and len(pool.sessions) == 1  # one text at a time: one session
    with pool.borrow() as a, pool.borrow() as b:
        assert a is not b and len(pool.sessions) == 2
        lent, waited = [], threading.Event()

        def third() -> None:
            with pool.borrow() as c:
                lent.append(c)
            waited.set()

        thread = threading.Thread(target=third)
        thread.start()
        assert not waited.wait(0.3)  # both sessions busy: the third run waits
    thread.join(timeout=10)
    assert waited.is_set() and lent[0] in (a, b) and len(pool.sessions) == 2
    outputs = [s.run(None, feeds)[0] for s in pool.sessions]
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_the_pool_works_in_a_forked_child_while_the_parent_holds_a_session(exported):
    from plmkit.backends.onnx_sessions import SessionPool

    path, feeds = exported
    pool = SessionPool(path, 1)
    with pool.borrow() as held:
        expected = held.run(None, feeds)[0]

        def child() -> float:
            with pool.borrow() as session:
                return np.abs(session.run(None, feeds)[0] - expected).max()

        hung = "the forked child waited for a session its parent had borrowed"
        assert in_forked_child(child, hung) == 0
