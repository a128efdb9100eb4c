"""`auto`: measured once against fp32, cached, and rejecting backends that disagree."""

from __future__ import annotations

import numpy as np
import pytest

from plmkit import backends
from plmkit.backends import chat_agreement, select
from plmkit.backends.calibration import CHAT_QUESTIONS


def test_auto_falls_back_with_a_note_when_an_engine_is_missing(
    tiny_bert_dir, caplog, pretend_missing
):
    pretend_missing("onnxruntime")
    with caplog.at_level("INFO", logger="plmkit"):
        backend = backends.load_encoder_backend(str(tiny_bert_dir), "embed", "auto")
    assert backend.name.startswith("torch-")
    assert "onnx-int8 skipped: onnxruntime not installed" in caplog.text


def test_auto_picks_a_measured_backend_that_agrees_and_caches_it(monkeypatch, tiny_bert_dir):
    name = backends.choose(str(tiny_bert_dir), "encoder", "embed", "auto")
    cached = select._read_cache()
    (entry,) = cached.values()
    assert entry["name"] == name
    assert entry["measured"][name]["ok"]
    assert entry["measured"]["torch-fp32"]["quality"] == pytest.approx(1.0)

    def no_building(*_):
        raise AssertionError("a cached decision must not measure again")

    monkeypatch.setattr(backends, "build_encoder", no_building)
    assert backends.choose(str(tiny_bert_dir), "encoder", "embed", "auto") == name
    backends.unload_all()  # a new process: the decision is read from the cache file
    assert backends.choose(str(tiny_bert_dir), "encoder", "embed", "auto") == name


def test_the_decision_is_remade_when_the_weights_change(tiny_bert_dir, tmp_path):
    import os
    import shutil

    model = shutil.copytree(tiny_bert_dir, tmp_path / "m")
    backends.choose(str(model), "encoder", "embed", "auto")
    weights = model / "model.safetensors"
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 10))
    backends.unload_all()
    backends.choose(str(model), "encoder", "embed", "auto")
    assert len(select._read_cache()) == 2


def _stand_in_for_int8(monkeypatch, encoder_class) -> None:
    """`auto` builds `encoder_class` (an fp32 TorchEncoder subclass) as its torch-int8."""
    real_build = backends.build_encoder

    def build(model, task, name):
        if name == "torch-int8":
            return encoder_class(model, task, "fp32")
        return real_build(model, task, name)

    monkeypatch.setattr(backends, "build_encoder", build)


def test_auto_rejects_a_backend_that_disagrees(monkeypatch, tiny_bert_dir):
    """A candidate whose output is noise is measured, rejected, and not chosen."""
    from plmkit.backends.torch_backend import TorchEncoder

    class Broken(TorchEncoder):
        def forward(self, input_ids, attention_mask):
            out = super().forward(input_ids, attention_mask)
            return np.random.default_rng(0).normal(size=out.shape).astype(np.float32)

    _stand_in_for_int8(monkeypatch, Broken)
    choice_name = backends.choose(str(tiny_bert_dir), "encoder", "embed", "auto")
    (entry,) = select._read_cache().values()
    assert entry["measured"]["torch-int8"]["ok"] is False
    assert choice_name != "torch-int8"


def test_auto_rejects_an_engine_that_drifts_only_in_mixed_length_batches(
    monkeypatch, tiny_bert_dir
):
    """Exact in length-sorted batches, off when a short text shares a batch with a long one
    (as dynamic int8 is): one text below the bound is enough to reject it."""
    from plmkit.backends.torch_backend import TorchEncoder

    class BatchDependent(TorchEncoder):
        def forward(self, input_ids, attention_mask):
            out = super().forward(input_ids, attention_mask)
            lengths = attention_mask.sum(1)
            if lengths.max() > 3 * lengths.min():  # a mixed batch: disturb its shortest text
                noise = np.random.default_rng(0).normal(size=out.shape[1:]).astype(np.float32)
                shortest = int(lengths.argmin())
                out[shortest] = out[shortest] + noise * np.abs(out[shortest]).mean()
            return out

    _stand_in_for_int8(monkeypatch, BatchDependent)
    choice_name = backends.choose(str(tiny_bert_dir), "encoder", "embed", "auto")
    (entry,) = select._read_cache().values()
    assert entry["measured"]["torch-int8"]["ok"] is False
    assert entry["measured"]["torch-int8"]["quality"] < select.EMBED_MIN_COSINE
    assert choice_name != "torch-int8"


def test_auto_classify_holds_accuracy_on_labelled_rows(monkeypatch, tiny_classifier_dir):
    """With calibration.jsonl, a backend that flips labels is judged by accuracy change."""
    from plmkit.backends.calibration import labelled_rows
    from plmkit.backends.torch_backend import TorchEncoder

    texts, _ = labelled_rows(tiny_classifier_dir)

    class Flipper(TorchEncoder):
        """fp32, except that it flips one in ten predictions: 10% of labels change."""

        def forward(self, input_ids, attention_mask):
            out = super().forward(input_ids, attention_mask)
            out[::10] = out[::10, ::-1]
            return out

    _stand_in_for_int8(monkeypatch, Flipper)
    choice_name = backends.choose(str(tiny_classifier_dir), "encoder", "classify", "auto")
    (entry,) = select._read_cache().values()
    fp32, flipped = entry["measured"]["torch-fp32"], entry["measured"]["torch-int8"]
    assert fp32["accuracy"] > 0.9 and flipped["accuracy"] < fp32["accuracy"] - 0.05
    assert flipped["ok"] is False and choice_name != "torch-int8"
    assert any(f"{len(texts)} labelled held-out rows" in note for note in entry["notes"])
    assert any("torch-int8 rejected: accuracy" in note for note in entry["notes"])


# --- decoders: chat answers as fp32's, then perplexity ----------------------------------


def _decoder_stand_in(monkeypatch, changed_questions: int, speeds=None) -> None:
    """`auto` weighs torch-fp32 against a 'torch-bf16' that is fp32 (so its perplexity
    ratio is 1.0) except that its first token is off on the first `changed_questions`
    chat questions; speeds are fixed (fp32 10 tok/s, the stand-in 100) so timing noise
    cannot decide."""
    from plmkit.backends.torch_backend import TorchCausalLM

    class ChangesAnswers(TorchCausalLM):
        def __init__(self, model):
            super().__init__(model, "fp32")
            self.name, self.calls = "torch-bf16", 0
            self.vocab = self.model.config.vocab_size

        def stream(self, prompt_ids, max_new_tokens, sampling):
            self.calls += 1  # auto asks the chat questions first, in order
            tokens = super().stream(prompt_ids, max_new_tokens, sampling)
            if self.calls > changed_questions:
                yield from tokens
                return
            yield (next(tokens) + 1) % self.vocab
            yield from tokens

    real_build = backends.build_causal_lm
    monkeypatch.setattr(select, "candidates", lambda kind: (["torch-fp32", "torch-bf16"], []))
    monkeypatch.setattr(
        backends,
        "build_causal_lm",
        lambda model, name: (
            ChangesAnswers(model) if name == "torch-bf16" else real_build(model, name)
        ),
    )
    speeds = speeds or {"torch-fp32": (10.0, 10.0), "torch-bf16": (100.0, 100.0)}
    monkeypatch.setattr(select, "_decoder_speed", lambda backend, prompt: speeds[backend.name])


def test_auto_rejects_a_decoder_that_changes_a_chat_answer(monkeypatch, tiny_llama_dir):
    """Its perplexity of fp32's text passes (ratio 1.0), but the France answer changed:
    rejected after that one question, without being timed."""
    _decoder_stand_in(monkeypatch, changed_questions=1)
    name = backends.choose(str(tiny_llama_dir), "decoder", backend="auto")
    (entry,) = select._read_cache().values()
    assert entry["measured"]["torch-bf16"] == {"chat_changed": 1, "chat_asked": 1, "ok": False}
    assert name == entry["batch_name"] == "torch-fp32"
    (note,) = entry["notes"]
    assert note.startswith("torch-bf16 rejected: 1 of 1 chat answers asked differ from fp32's")
    assert "(first: 'What is the capital of France?' ->" in note


def test_auto_picks_the_faster_decoder_whose_chat_answers_agree(monkeypatch, tiny_llama_dir):
    _decoder_stand_in(monkeypatch, changed_questions=0)
    name = backends.choose(str(tiny_llama_dir), "decoder", backend="auto")
    (entry,) = select._read_cache().values()
    stand_in = entry["measured"]["torch-bf16"]
    assert stand_in["chat_changed"] == 0 and stand_in["chat_asked"] == len(CHAT_QUESTIONS)
    assert stand_in["quality"] == pytest.approx(1.0)
    assert stand_in["ok"] and name == entry["batch_name"] == "torch-bf16"
    assert select.cached_decoder_choice(str(tiny_llama_dir)).name == "torch-bf16"


@pytest.mark.parametrize(("changed", "ok"), [(2, True), (3, False)])
def test_the_chat_agreement_threshold_is_enforced(monkeypatch, tiny_llama_dir, changed, ok):
    """With the bar lowered to all but 2 questions, 2 changed answers pass; 3 do not, and
    asking stops at the third."""
    bar = 1 - 2 / len(CHAT_QUESTIONS)
    monkeypatch.setattr(chat_agreement, "DECODE_MIN_CHAT_AGREEMENT", bar)
    _decoder_stand_in(monkeypatch, changed_questions=changed)
    name = backends.choose(str(tiny_llama_dir), "decoder", backend="auto")
    (entry,) = select._read_cache().values()
    stand_in = entry["measured"]["torch-bf16"]
    assert stand_in["ok"] is ok and stand_in["chat_changed"] == changed
    assert stand_in["chat_asked"] == (len(CHAT_QUESTIONS) if ok else 3)
    assert name == ("torch-bf16" if ok else "torch-fp32")


@pytest.mark.parametrize(
    ("speeds", "want"),
    [
        ({"torch-fp32": 229.8, "onnx-fp32": 227.1}, "onnx-fp32"),  # the Zen 3's near tie
        ({"torch-fp32": 300.0, "onnx-fp32": 227.1}, "torch-fp32"),  # clearly faster
        ({"torch-fp32": 100.0, "onnx-fp32": 227.1}, "onnx-fp32"),
        ({"torch-fp32": 100.0, "torch-int8": 105.0}, "torch-int8"),  # nothing without torch
    ],
)
def test_a_torch_engine_must_be_clearly_faster_to_win(speeds, want):
    notes: list[str] = []
    assert select.fastest_to_start(speeds, notes) == want
    assert bool(notes) == (want != max(speeds, key=speeds.get))


def test_the_fp32_reference_decodes_a_near_tie_again_alone():
    from plmkit.backends.select import REFERENCE_TIE_GAP, _reference_greedy

    class Batched:  # the second row came within a tie of another token in the batch
        def greedy_batch(self, prompts, tokens):
            return [[1, 2], [9, 9]], [1.0, REFERENCE_TIE_GAP / 10]

        def stream(self, prompt, tokens, sampling):
            yield from [7, 8][:tokens]

    assert _reference_greedy(Batched(), [[5], [6]], 2) == [[1, 2], [7, 8]]
