"""Dataclass configs with documented fields; the CLI options and YAML configs mirror them.

Each config validates itself (`validate()`), so the CLI, the Python API and the server
reject bad values with the same one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from plmkit.errors import InvalidInputError
from plmkit.validation import require_positive, require_range


@dataclass
class GenerateConfig:
    """How `plm generate` decodes."""

    max_new_tokens: int | None = None
    """New tokens to generate (default 64 when max_length is not given either)."""
    max_length: int | None = None
    """Total length, prompt included (the reference walkthrough uses max_length=50)."""
    strategy: str = "greedy"
    """greedy, sample or beam."""
    temperature: float = 1.0
    """Sampling temperature (> 0); only with strategy=sample."""
    top_k: int = 50
    """Sample from the k most likely tokens (0 = no limit); only with strategy=sample."""
    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1]; only with strategy=sample."""
    num_beams: int = 4
    """Beams for strategy=beam."""
    repetition_penalty: float = 1.0
    """> 1 discourages repeating tokens."""
    seed: int | None = None
    """Seed for sampling; the same seed gives the same text."""
    stop: list[str] = field(default_factory=list)
    """Stop when any of these strings appears; it is cut from the output."""
    chat: bool = False
    """Wrap the prompt in the model's chat template (instruct models)."""
    system: str | None = None
    """System message for --chat."""

    STRATEGIES = ("greedy", "sample", "beam")

    def validate(self) -> GenerateConfig:
        if self.strategy not in self.STRATEGIES:
            raise InvalidInputError(
                f"unknown strategy '{self.strategy}'", f"use one of: {', '.join(self.STRATEGIES)}"
            )
        require_positive(self.max_new_tokens, "max_new_tokens")
        require_positive(self.max_length, "max_length")
        if self.max_new_tokens is not None and self.max_length is not None:
            raise InvalidInputError(
                "both max_new_tokens and max_length given", "pass only one of them"
            )
        require_positive(self.temperature, "temperature")
        require_range(self.top_p, "top_p", 1e-6, 1.0)
        if self.top_k < 0:
            raise InvalidInputError(f"top_k must be >= 0, got {self.top_k}", "pass 0 for no limit")
        require_positive(self.num_beams, "num_beams")
        require_positive(self.repetition_penalty, "repetition_penalty")
        if any(not s for s in self.stop):
            raise InvalidInputError("empty stop string", "pass non-empty --stop values")
        return self
