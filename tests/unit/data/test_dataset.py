"""TextDataset (plmkit.data.dataset): label maps and the data hash the results JSON records."""

from __future__ import annotations

from plmkit.data import TextDataset


def test_label_maps_follow_the_name_list():
    dataset = TextDataset(["a", "b"], [1, 0], ["neg", "pos"], "d.csv", "all")
    assert len(dataset) == 2
    assert dataset.label2id == {"neg": 0, "pos": 1} and dataset.id2label == {0: "neg", 1: "pos"}


def test_data_hash_is_stable_and_content_sensitive():
    texts = [f"text {i}" for i in range(20)]
    labels = [i % 2 for i in range(20)]
    first = TextDataset(texts, labels, ["neg", "pos"], "d.csv", "all")
    copy = TextDataset(list(texts), list(labels), ["neg", "pos"], "other.csv", "test")
    assert first.data_hash() == copy.data_hash()  # the content, not the source or split
    assert len(first.data_hash()) == 64
    flipped = TextDataset(texts, labels[::-1], ["neg", "pos"], "d.csv", "all")
    assert flipped.data_hash() != first.data_hash()
    renamed = TextDataset(texts, labels, ["bad", "good"], "d.csv", "all")
    assert renamed.data_hash() != first.data_hash()  # names are hashed, not ids
    unlabeled = TextDataset(texts, None, [], "d.csv", "all")
    assert unlabeled.data_hash() != first.data_hash()
