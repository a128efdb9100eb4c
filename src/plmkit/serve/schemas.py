"""Request bodies (pydantic). OpenAI field names where OpenAI has the endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

BACKEND = Field(
    default=None,
    description="plmkit extension: auto, or a backend name (default: the server's --backend)",
)


class EmbeddingsRequest(BaseModel):
    model: str = "minilm"
    input: str | list[str]
    pooling: Literal["cls", "mean", "max"] | None = None
    normalize: bool | None = None
    backend: str | None = BACKEND


class _Sampling(BaseModel):
    model: str = "smollm2"
    max_tokens: int | None = Field(default=64, description="new tokens")
    temperature: float | None = Field(default=None, description="> 0 samples; 0 or unset: greedy")
    top_p: float = 1.0
    top_k: int = 50
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    backend: str | None = BACKEND

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class CompletionRequest(_Sampling):
    prompt: str


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatRequest(_Sampling):
    messages: list[ChatMessage]


class TextRequest(BaseModel):
    model: str = "minilm"
    text: str


class FillMaskRequest(TextRequest):
    top_k: int = 5


class ClassifyRequest(BaseModel):
    model: str
    input: str | list[str]
    backend: str | None = BACKEND
