"""The report of a pre-training run (`plm pretrain mlm|clm`): the corpus, the loss curve and
learning rate, held-out figures before and after on the same blocks, the masking as measured
(MLM: 15% picked, 80/10/10), and the probes before and after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plmkit.report import common
from plmkit.report.page import Page, esc, kv_table, note, table

SCORES = [
    ("held-out loss", "loss", ".4f"),
    ("perplexity", "perplexity", ".2f"),
    ("masked-token accuracy", "accuracy", ".4f"),
    ("  on [MASK] tokens", "mask_token_accuracy", ".4f"),
    ("pseudo-perplexity", "pseudo_perplexity.pseudo_perplexity", ".2f"),
]


def build(page: Page, run_dir: Path, record: dict[str, Any]) -> None:
    corpus_section(page, record)
    common.curves_section(page, record.get("training", {}).get("log_history", []))
    scores_section(page, record)
    if "masking_during_training" in record:
        masking_section(page, record)
    probes_section(page, record)
    keys = [
        ("wall seconds (whole run)", "wall_seconds"),
        ("seconds inside steps", "training.seconds_in_steps"),
        ("tokens / s", "training.tokens_per_second"),
        ("blocks / s", "training.samples_per_second"),
        ("tokens trained", "training.tokens_trained"),
        ("optimizer steps", "training.steps"),
        ("learning rate", "training.learning_rate"),
        ("final training loss", "training.train_loss"),
    ]
    page.section("Throughput and time", common.throughput_rows(page, record, keys))
    common.run_section(page, record)


def corpus_section(page: Page, record: dict[str, Any]) -> None:
    corpus = record.get("corpus", {})
    rows = [
        (k.replace("_", " "), page.num(record, f"corpus.{k}"))
        for k, v in corpus.items()
        if isinstance(v, int | float | str)
    ]
    rows += [
        ("tokenizer", page.num(record, "tokenizer.source")),
        ("vocabulary", page.num(record, "tokenizer.vocab_size")),
        ("architecture", page.num(record, "architecture.class")),
        ("parameters", page.num(record, "architecture.parameters")),
    ]
    page.section("Corpus and model", kv_table(rows))


def scores_section(page: Page, record: dict[str, Any]) -> None:
    before, after = record.get("before", {}), record.get("after", {})
    rows = []
    for name, key, spec in SCORES:
        first = page.num(record, f"before.{key}", spec)
        last = page.num(record, f"after.{key}", spec)
        if first != "-" or last != "-":
            rows.append([esc(name), first, last])
    blocks = before.get("blocks") or after.get("blocks")
    page.section(
        "Held-out text before and after",
        table(["", "before", "after"], rows),
        note(
            "the same held-out blocks scored before the first step and after the last"
            + (f" ({blocks} blocks)" if blocks else "")
        ),
    )


def masking_section(page: Page, record: dict[str, Any]) -> None:
    key = "masking_during_training"
    rows = [
        ("tokens picked (BERT: 15%)", page.num(record, f"{key}.picked_fraction", ".2%")),
        ("of those: [MASK] (80%)", page.num(record, f"{key}.mask_fraction", ".2%")),
        ("random token (10%)", page.num(record, f"{key}.random_fraction", ".2%")),
        ("kept (10%)", page.num(record, f"{key}.kept_fraction", ".2%")),
    ]
    page.section(
        "Masking as measured during training",
        kv_table(rows),
        note("counted by the collator over every training batch"),
    )


def probes_section(page: Page, record: dict[str, Any]) -> None:
    probes = record.get("probes", [])
    if not probes:
        return
    if record.get("task") == "pretrain-mlm":
        rows = (
            [
                esc(p["text"]),
                esc(", ".join(p.get("top_before", [])) or "-"),
                esc(", ".join(p.get("top", []))),
            ]
            for p in probes
        )
        body = table(["fill-mask probe", "top 5 before", "top 5 after"], rows, numeric_from=3)
    else:
        rows = (
            [esc(p["prompt"]), esc(p.get("continuation_before", "-")), esc(p["continuation"])]
            for p in probes
        )
        body = table(["prompt", "before", "after (sampled)"], rows, numeric_from=3)
    page.section("Probes before and after", body)
