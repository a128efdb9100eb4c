"""`plm paradigms`: the ways of using a pre-trained model, measured on the same split.

    run_paradigms(ParadigmsConfig(data="movie-snippets"))

Rows: the instruct decoder zero-shot and few-shot (labels scored by log-likelihood,
`pipelines.label_scoring`); embedding similarity to one sentence per label; frozen embeddings +
logistic regression; SetFit on k examples per class; `plm finetune`'s default recipe, from the
pre-trained encoder and from random weights. Then a learning curve (fine-tuned, linear head,
SetFit) over 8 / 64 per class and 1 / 5 / 20 / 100% of the training labels, several seeds at
the small sizes. The split is `plm finetune`'s for the same seed (`data.splits`).

    settings.py       the config, the subsets (per class, shares, few-shot examples)
    encoder_rows.py   embeddings, similarity, linear head, SetFit
    decoder_rows.py   zero- and few-shot decoder
    finetune_rows.py  fine-tuned, from scratch, curve points
    run.py            the order of the run and paradigms.json
    plot.py           paradigms.png
"""

from typing import Any

from plmkit.recipes.paradigms.settings import ParadigmsConfig

__all__ = ["ParadigmsConfig", "ParadigmsResult", "Progress", "run_paradigms"]


def __getattr__(name: str) -> Any:
    """The run and what it imports load when first asked for: every `plm` command imports
    the CLI, which needs only the config (50 ms less at each start)."""
    if name in ("ParadigmsResult", "Progress", "run_paradigms"):
        from plmkit.recipes.paradigms import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
