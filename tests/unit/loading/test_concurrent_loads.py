"""Loads from several threads at once (the server's workers) all get their whole model:
unserialised, transformers 5 returned every concurrently loaded BertForMaskedLM without
its tied decoder."""

import threading

from plmkit import loading


def test_masked_lm_loaded_from_three_threads_at_once_keeps_its_head(tiny_bert_mlm_dir):
    failures: list[Exception] = []

    def load() -> None:
        try:
            loading.load_masked_lm(str(tiny_bert_mlm_dir))
        except Exception as error:  # noqa: BLE001 - collected for the assert
            failures.append(error)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
