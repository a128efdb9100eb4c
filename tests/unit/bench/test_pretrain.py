"""The packed-vs-padded benchmark behind bench/pretrain_packing.py and `plm bench pretrain`."""

from conftest import CORPUS

from plmkit.bench.pretrain import measure_packing


def test_measure_packing_counts_real_tokens_per_arm(tiny_bert_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path))
    measured = measure_packing(
        CORPUS * 3, str(tiny_bert_dir), block_size=32, batch_size=4, steps=2, warmup=1, bf16=False
    )
    arms = measured["arms"]
    assert arms["packed"]["padding_fraction"] == 0.0
    assert arms["packed"]["real_tokens"] == 2 * 4 * 32
    assert arms["padded per line"]["token_slots"] == 2 * 4 * 32
    assert arms["padded per line"]["padding_fraction"] > 0.5  # lines of ~10 tokens in 32 slots
    assert (
        0
        < arms["dynamic padding"]["padding_fraction"]
        < arms["padded per line"]["padding_fraction"]
    )
    assert measured["packed_vs_padded_per_line"] > 0
    assert measured["corpus_padding_at_block_size"]["n_lines"] == len(CORPUS) * 3
