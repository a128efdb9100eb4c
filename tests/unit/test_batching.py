"""plmkit.batching: length-sorted batches, padded per batch, results back in input order."""

import numpy as np
import pytest

from plmkit.batching import length_sorted_batches, map_padded, padded_batches, restore_order

LENGTHS = [5, 1, 9, 3, 7, 3]


def test_batches_are_sorted_longest_first_and_cover_every_index():
    batches = list(length_sorted_batches(LENGTHS, 2))
    assert batches == [[2, 4], [0, 3], [5, 1]]
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(LENGTHS)))
    assert [LENGTHS[i] for i in flat] == sorted(LENGTHS, reverse=True)
    ascending = [i for b in length_sorted_batches(LENGTHS, 4, descending=False) for i in b]
    assert [LENGTHS[i] for i in ascending] == sorted(LENGTHS)


def test_restore_order_undoes_any_order():
    assert restore_order([(2, "c"), (0, "a"), (1, "b")]) == ["a", "b", "c"]
    assert restore_order([]) == []


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    from plmkit import loading

    return loading.load_tokenizer(str(tiny_bert_dir))


def ids_of(lengths):
    return [[2] + [10 + n] * n + [3] for n in lengths]  # [CLS] n tokens [SEP]


def test_padded_batches_pad_each_batch_to_its_longest(tokenizer):
    ids = ids_of(LENGTHS)
    seen = list(padded_batches(tokenizer, ids, 2))
    assert [b for b, _, _ in seen] == [[2, 4], [0, 3], [5, 1]]
    assert [x.shape for _, x, _ in seen] == [(2, 11), (2, 7), (2, 5)]
    for batch, input_ids, attention_mask in seen:
        assert input_ids.dtype == np.int64 and attention_mask.dtype == np.int64
        for row, index in enumerate(batch):
            n = len(ids[index])
            assert input_ids[row, :n].tolist() == ids[index]
            assert attention_mask[row].tolist() == [1] * n + [0] * (input_ids.shape[1] - n)
            assert set(input_ids[row, n:].tolist()) <= {tokenizer.pad_token_id}


def test_map_padded_equals_an_unbatched_loop(tokenizer):
    ids = ids_of(LENGTHS)

    def forward(batch, input_ids, attention_mask):  # per row: sum of its real ids, its length
        return [
            (int((input_ids[r] * attention_mask[r]).sum()), int(attention_mask[r].sum()))
            for r in range(len(batch))
        ]

    expected = [(sum(x), len(x)) for x in ids]
    for batch_size in (1, 2, 4, 100):
        assert map_padded(tokenizer, ids, batch_size, forward) == expected


def test_map_padded_needs_one_result_per_row(tokenizer):
    with pytest.raises(ValueError):
        map_padded(tokenizer, ids_of([1, 2, 3]), 2, lambda batch, x, m: [0])


def test_map_padded_runs_batches_at_once_on_workers_and_keeps_input_order(tokenizer):
    import threading

    ids = ids_of(LENGTHS)
    both_in = threading.Barrier(2, timeout=10)  # raises unless two batches run at once
    calls, lock = [], threading.Lock()

    def forward(batch, input_ids, attention_mask):
        with lock:
            calls.append(threading.get_ident())
            first_two = len(calls) <= 2
        if first_two:
            both_in.wait()
        return [int((input_ids[r] * attention_mask[r]).sum()) for r in range(len(batch))]

    got = map_padded(tokenizer, ids, 2, forward, workers=2)
    assert got == [sum(x) for x in ids] and len(set(calls[:2])) == 2
    with pytest.raises(ValueError):  # a worker's error reaches the caller
        map_padded(tokenizer, ids, 2, lambda batch, x, m: [0], workers=2)
