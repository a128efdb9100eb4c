"""Request bodies (pydantic), with OpenAI's field names where OpenAI has the endpoint.

Out-of-range values fail here, naming the field (422): temperature below 0, top_p outside
(0, 1], max_tokens of 0 or less, an empty input list, a wrong JSON type. Fields OpenAI
clients send that would change the answer but that plmkit does not do (n > 1, penalties,
logit_bias, tools, response formats...) are declared so that `unsupported` can refuse them
by name (400) instead of silently ignoring them; fields that change nothing (`user`,
`metadata`) are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from plmkit.serve.errors import ApiError

Text = Annotated[str, Field(min_length=1)]
BACKEND_FIX = " (the engine is chosen by plm serve --backend)"
Model = Field(default=None, description="an id from GET /v1/models (default: the first served)")


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    backend: str | None = Field(default=None, description="refused: the server runs one engine")

    def unsupported(self, defaults: dict[str, Any]) -> None:
        """400 naming the first field set to something other than its no-op value."""
        for name, neutral in {"backend": None, **defaults}.items():
            value = getattr(self, name)
            if value is not None and value != neutral:
                raise ApiError(
                    400,
                    f"'{name}' = {value!r} is not supported by this server",
                    param=name,
                    code="unsupported_parameter",
                    fix=f"leave '{name}' out" + (BACKEND_FIX if name == "backend" else ""),
                )


class EmbeddingsRequest(Request):
    model: str | None = Model
    input: Text | Annotated[list[Text], Field(min_length=1)]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, gt=0)
    pooling: Literal["cls", "mean", "max"] | None = None
    normalize: bool | None = None
    truncate: bool = Field(default=False, description="cut inputs at the model's limit")


class ClassifyRequest(Request):
    model: str | None = Model
    input: Text | Annotated[list[Text], Field(min_length=1)]
    truncate: bool = False


class StreamOptions(BaseModel):
    include_usage: bool = False


class Sampling(Request):
    model: str | None = Model
    max_tokens: int | None = Field(default=None, gt=0, description="new tokens (default 64)")
    temperature: float | None = Field(default=None, ge=0, le=2, description="0 or unset: greedy")
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = Field(default=50, ge=0, description="plmkit extension, with temperature > 0")
    seed: int | None = None
    stop: str | Annotated[list[Text], Field(max_length=4)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None

    NEUTRAL: ClassVar[dict[str, Any]] = {
        "n": 1,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "logit_bias": {},
    }

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def new_tokens(self) -> int | None:
        return self.max_tokens

    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class CompletionRequest(Sampling):
    prompt: Text
    logprobs: int | None = Field(default=None, ge=0, le=20, description="top alternatives")
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = None

    def check(self) -> None:
        self.unsupported({**self.NEUTRAL, "echo": False, "suffix": "", "best_of": 1})


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def as_dict(self) -> dict:
        text = self.content
        if not isinstance(text, str):
            text = "".join(part.text for part in text)
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class ChatRequest(Sampling):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: int | None = Field(default=None, gt=0)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[Any] | None = None
    tool_choice: Any = None
    response_format: dict | None = None

    def check(self) -> None:
        self.unsupported({**self.NEUTRAL, "tools": [], "tool_choice": "none"})
        if self.response_format not in (None, {"type": "text"}):
            self.unsupported({"response_format": {"type": "text"}})
        if self.top_logprobs and not self.logprobs:
            raise ApiError(
                400,
                "top_logprobs needs logprobs: true",
                param="top_logprobs",
                code="invalid_value",
                fix="send logprobs: true with top_logprobs",
            )

    def new_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class TextRequest(Request):
    model: str | None = Model
    text: Text


class FillMaskRequest(TextRequest):
    top_k: int = Field(default=5, gt=0, le=100)
