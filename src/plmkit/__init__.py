"""plmkit: pre-train, fine-tune, run and serve Transformer sequence models offline.

The public Python API mirrors the `plm` command line: each CLI verb calls one plain
function re-exported here. Imports are lazy so that `import plmkit` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "tokenize": "plmkit.pipelines.tokenize",
    "encode": "plmkit.pipelines.encode",
    "fill_mask": "plmkit.pipelines.fill_mask",
    "generate": "plmkit.pipelines.generate",
    "mask_demo": "plmkit.pipelines.mask_demo",
    "classify": "plmkit.pipelines.classify",
    "predict": "plmkit.pipelines.classify",
    "evaluate": "plmkit.pipelines.classify",
    "finetune": "plmkit.recipes.finetune_classifier",
    "pretrain": "plmkit.recipes.pretrain",
    "pretrain_mlm": "plmkit.recipes.pretrain_mlm",
    "pretrain_clm": "plmkit.recipes.pretrain_clm",
    "train_tokenizer": "plmkit.lm.tokenizer_training",
    "compare_finetuning": "plmkit.recipes.compare",
    "resolve": "plmkit.registry",
    "PlmError": "plmkit.errors",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'plmkit' has no attribute {name!r}")
