"""recipes/pretrain_corpus.py: the held-out split (no leakage into fine-tuning's test rows),
packed into full blocks."""

from __future__ import annotations

import json

from plmkit.config import PretrainConfig
from plmkit.recipes.pretrain_corpus import corpus_record, pack, split_texts


def test_labelled_data_holds_out_the_finetune_validation_and_test_rows(tmp_path):
    from plmkit.data import load_dataset_splits

    rows = [
        {"text": f"review number {i} is {'good' if i % 2 else 'bad'}", "label": i % 2}
        for i in range(60)
    ]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    split = split_texts(PretrainConfig(data=str(path), seed=7))
    finetune = load_dataset_splits(str(path), seed=7)
    held = finetune["validation"].texts + finetune["test"].texts
    assert split.held_out == held
    assert set(split.train) == set(finetune["train"].texts)
    assert "validation + test" in split.held_out_from


def test_unlabelled_text_holds_out_a_seeded_share(corpus_file):
    config = PretrainConfig(data=str(corpus_file), label_column=None, eval_fraction=0.1, seed=3)
    split = split_texts(config)
    assert len(split.held_out) == 30 and len(split.train) == 270
    assert split_texts(config).held_out == split.held_out  # the same seed, the same rows
    assert split_texts(PretrainConfig(**{**vars(config), "seed": 4})).held_out != split.held_out
    assert "random 10%" in split.held_out_from
    assert split.data_hash() == split_texts(config).data_hash()


def test_pack_cuts_both_parts_into_full_blocks_and_caps_the_held_out(tiny_bert_dir, corpus_file):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    config = PretrainConfig(
        data=str(corpus_file), block_size=16, eval_blocks=3, show_progress=False
    )
    split = split_texts(config)
    corpus = pack(split, tokenizer, config, model_max_length=128)
    assert corpus.train.input_ids.shape[1] == 16 and corpus.held_out.n_blocks == 3
    record = corpus_record(split, corpus)
    assert record["train_documents"] == len(split.train) and record["held_out_blocks"] == 3
    assert record["train_blocks"] == corpus.train.n_blocks and record["padding_fraction"] == 0.0
