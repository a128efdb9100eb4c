"""`pretrain(config, objective)`: the one entry point for both pre-training objectives.

    result = pretrain(PretrainConfig(data="corpus.txt", out="runs/mlm"), "mlm")

"mlm" runs `pretrain_mlm` (BERT's objective), "clm" `pretrain_clm` (GPT's); any other
objective is an error before anything is read.
"""

from __future__ import annotations

from plmkit.config import PretrainConfig
from plmkit.errors import InvalidInputError
from plmkit.recipes.pretrain_clm import pretrain_clm
from plmkit.recipes.pretrain_common import PretrainResult
from plmkit.recipes.pretrain_mlm import pretrain_mlm
from plmkit.recipes.run_files import write_run_report
from plmkit.training.events import OnEvent, ignore

RECIPES = {"mlm": pretrain_mlm, "clm": pretrain_clm}
OBJECTIVES = tuple(RECIPES)


def pretrain(
    config: PretrainConfig,
    objective: str,
    on_event: OnEvent | None = None,
    *,
    report: bool = True,
) -> PretrainResult:
    """Pre-train with `objective` ("mlm" or "clm"); progress goes to `on_event` as
    `training.events`. With `report`, out/report.html is written last (`plmkit.report`)."""
    if objective not in RECIPES:
        raise InvalidInputError(
            f"unknown objective {objective!r}", f"use plm pretrain {' or '.join(OBJECTIVES)}"
        )
    result = RECIPES[objective](config, on_event)
    if report and "task" in result.results:  # a results record (not a helper rank's figures)
        write_run_report(result.out, on_event or ignore)
    return result
