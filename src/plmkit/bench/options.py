"""What one `plm bench` run measures: models, counts, and the machine limits found first."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BenchOptions:
    quick: bool = False
    """Small counts (tests, smoke runs): numbers are then only indicative."""
    encoder: str = "minilm"
    classifier: str | None = None
    """A fine-tuned classifier directory; default: one made once from `encoder`."""
    decoder: str = "smollm2"
    texts: int | None = None
    """Sentences for encode/classify (default 1000; quick 48)."""
    new_tokens: int | None = None
    """Tokens per generation (default 128; quick 8)."""
    concurrent: int = 8
    all_engines: bool = False
    """Time every engine, even one a short probe shows far slower than fp32 here."""
    limits: dict = field(default_factory=dict)
    """The machine's measured limits (`machine.limits`), filled in by `run_bench`."""
    limit_samples: list = field(default_factory=list)
    """The limits sampled again after each round of the races that rows are held to
    (`harness.sample_limits`); `run_bench` raises `limits` to the highest of all."""

    @property
    def n_texts(self) -> int:
        return self.texts or (48 if self.quick else 1000)

    @property
    def n_tokens(self) -> int:
        return self.new_tokens or (8 if self.quick else 128)

    @property
    def n_latency(self) -> int:
        return 8 if self.quick else 48

    @property
    def rounds(self) -> int:
        """Timed rounds per engine (the best one counts)."""
        return 1 if self.quick else 3
