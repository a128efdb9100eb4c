"""`plm predict` and `plm evaluate`: a fine-tuned classifier on texts, files and datasets.

classify: preprocess (tokenize once, unpadded, cut at the model's limit) -> _forward
(length-sorted padded batches through `batching.map_padded`, softmax per batch) ->
postprocess (label and probabilities per text, in input order). `classify_file` reads and
writes through `predictions` (every input column kept); `predict` is `plm predict` (texts
or a file). evaluate runs the same preprocess, then streams: each batch
(`batching.padded_batches`) updates a confusion matrix and is dropped, so memory stays flat
in dataset size; Trainer's own predict is not used (in transformers 5.24 it returns
length-grouped predictions out of dataset order).

Input is validated before any weights load and before `auto` measures backends: the model
is a classifier (its config.json, `checks.require_classifier`), the file, its columns and
labels are readable; only then is the model loaded.

`forward` is any `(input_ids (B, T), attention_mask (B, T)) -> logits (B, K)` numpy function:
`torch_forward(model)` for a model in memory (the training loop's evaluation), or an engine
from `plmkit.backends` when `backend` is not "torch".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from plmkit.batching import map_padded, padded_batches
from plmkit.errors import InvalidInputError
from plmkit.metrics import ConfusionMatrix
from plmkit.paths import RESULTS_FILE, read_json
from plmkit.pipelines.checks import require_classifier
from plmkit.pipelines.predictions import (
    Prediction,
    check_predictions_path,
    read_rows,
    write_predictions,
)
from plmkit.validation import require_positive, require_texts

Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]

__all__ = [
    "Forward",
    "Prediction",
    "classify",
    "classify_file",
    "evaluate",
    "model_max_length",
    "predict",
    "probability_batches",
    "stream_confusion",
    "tokenize_for_classifier",
    "torch_forward",
    "write_predictions",
]


def torch_forward(model: Any) -> Forward:
    """Logits from a torch sequence classifier, in inference mode, float32 out."""
    import torch

    def forward(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                logits = model(
                    input_ids=torch.from_numpy(input_ids).to(model.device),
                    attention_mask=torch.from_numpy(attention_mask).to(model.device),
                ).logits  # (B, K)
        finally:
            model.train(was_training)
        return logits.float().cpu().numpy()

    return forward


def softmax(logits: np.ndarray) -> np.ndarray:
    """(B, K) logits -> (B, K) probabilities (shifted by the row maximum: no overflow)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def tokenize_for_classifier(tokenizer: Any, texts: Sequence[str], max_length: int) -> list:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def model_max_length(tokenizer: Any, config: Any) -> int:
    """The longest input the model takes: the tokenizer's limit, capped by its positions."""
    limit = getattr(config, "max_position_embeddings", None) or 512
    if getattr(config, "model_type", "") in {"roberta", "xlm-roberta", "camembert", "mpnet"}:
        limit -= 2  # these reserve two positions for the padding offset
    return int(min(tokenizer.model_max_length or limit, limit))


def probability_batches(
    forward: Forward,
    tokenizer: Any,
    ids: Sequence[Sequence[int]],
    batch_size: int = 64,
    show_progress: bool = False,
) -> Iterator[tuple[list[int], np.ndarray]]:
    """(input indices, (B, K) probabilities) per length-sorted batch of token-id lists."""
    batches = padded_batches(tokenizer, ids, batch_size, show_progress, "classifying")
    for batch, input_ids, attention_mask in batches:
        yield batch, softmax(forward(input_ids, attention_mask))


def stream_confusion(
    forward: Forward,
    tokenizer: Any,
    ids: Sequence[Sequence[int]],
    labels: Sequence[int],
    num_labels: int,
    batch_size: int = 64,
    show_progress: bool = False,
) -> ConfusionMatrix:
    """The confusion matrix of `forward` on tokenized examples, one batch in memory at a time."""
    matrix = ConfusionMatrix(num_labels)
    for batch, probabilities in probability_batches(
        forward, tokenizer, ids, batch_size, show_progress
    ):
        matrix.update([labels[i] for i in batch], probabilities.argmax(axis=-1))
    return matrix


@dataclass
class _Classifier:
    forward: Forward
    tokenizer: Any
    label_names: list[str]
    max_length: int
    engine: Any = None
    """The backend behind `forward` (None: plain torch), for `backends.batch_plan`."""


def _load(model: str, backend: str) -> _Classifier:
    from plmkit import loading

    tokenizer = loading.cached("tokenizer", model)
    config = loading.load_config(model)
    engine = None
    if backend == "torch":
        forward = torch_forward(loading.load_classifier(model))
    else:
        from plmkit.backends import load_encoder_backend

        engine = load_encoder_backend(model, "classify", backend)
        forward = engine.forward
    label_names = [config.id2label[i] for i in range(config.num_labels)]
    max_length = model_max_length(tokenizer, config)
    return _Classifier(forward, tokenizer, label_names, max_length, engine)


def classify(
    texts: str | Sequence[str],
    model: str,
    *,
    batch_size: int = 64,
    backend: str = "auto",
    show_progress: bool = False,
) -> list[Prediction]:
    """Label and class probabilities for each text, in input order.

    `backend`: auto (the fastest that keeps accuracy, see `plmkit.backends.select`),
    torch-fp32, torch-bf16, torch-int8, onnx-fp32, onnx-int8, or "torch" (the model in
    memory, fp32: what evaluation during training uses)."""
    texts = require_texts(texts)
    require_positive(batch_size, "batch_size")
    require_classifier(model, "predict")
    clf = _load(model, backend)
    ids = preprocess(texts, clf)
    probabilities = _forward(clf, ids, batch_size, show_progress)
    return postprocess(texts, probabilities, clf.label_names)


def preprocess(texts: Sequence[str], clf: _Classifier) -> list[list[int]]:
    """Token ids per text, unpadded (so batches can be sorted by length)."""
    return tokenize_for_classifier(clf.tokenizer, texts, clf.max_length)


def _forward(
    clf: _Classifier, ids: list[list[int]], batch_size: int, show_progress: bool
) -> list[np.ndarray]:
    """(K,) class probabilities per text, in input order."""
    rows, workers, run = batch_size, 1, clf.forward
    if clf.engine is not None:
        from plmkit.backends import batch_plan

        rows, workers, run = batch_plan(clf.engine, batch_size)

    def forward(batch: list[int], input_ids: np.ndarray, attention_mask: np.ndarray):
        return softmax(run(input_ids, attention_mask))  # (B, K)

    return map_padded(clf.tokenizer, ids, rows, forward, show_progress, "classifying", workers)


def postprocess(
    texts: Sequence[str], probabilities: Sequence[np.ndarray], label_names: list[str]
) -> list[Prediction]:
    predictions = []
    for text, p in zip(texts, probabilities, strict=True):
        best = int(p.argmax())
        predictions.append(
            Prediction(
                text=text,
                label=label_names[best],
                score=round(float(p[best]), 6),
                probabilities={n: round(float(v), 6) for n, v in zip(label_names, p, strict=True)},
            )
        )
    return predictions


def classify_file(
    path: str | Path | TextIO,
    model: str,
    out: str | Path | TextIO | None,
    *,
    text_column: str = "text",
    batch_size: int = 64,
    backend: str = "auto",
    show_progress: bool = False,
) -> list[Prediction]:
    """Classify the `text_column` of a CSV / TSV / JSONL / parquet file (or a .txt or a text
    stream, a text a line) and write `out` (.csv, .tsv, .jsonl, .parquet, or a text stream;
    None: nothing written): every input column, in order and unchanged, then pred_label,
    pred_score and p_<label> columns (`predictions`), one row per input row (an empty text
    is an error naming its line, not a dropped row), read before the model loads."""
    out = check_predictions_path(out) if isinstance(out, (str, Path)) else out
    rows = read_rows(path, text_column)
    predictions = classify(
        rows.texts, model, batch_size=batch_size, backend=backend, show_progress=show_progress
    )
    if out is not None:
        write_predictions(predictions, out, rows)
    return predictions


def predict(
    model: str,
    texts: Sequence[str] | None = None,
    *,
    file: str | Path | TextIO | None = None,
    out: str | Path | TextIO | None = None,
    text_column: str = "text",
    batch_size: int = 64,
    backend: str = "auto",
    show_progress: bool = False,
) -> list[Prediction]:
    """`plm predict`: classify `texts`, or the `file` (`classify_file`); `out` (a path or a
    text stream, optional) receives the rows with their predictions."""
    if file is not None and texts:
        raise InvalidInputError("both texts and --file given", "pass texts or --file, not both")
    if file is None and out is not None and not texts:
        raise InvalidInputError("--out without --file or texts", "pass --file in.csv")
    if file is not None:
        return classify_file(
            file,
            model,
            out,
            text_column=text_column,
            batch_size=batch_size,
            backend=backend,
            show_progress=show_progress,
        )
    out = check_predictions_path(out) if isinstance(out, (str, Path)) else out
    predictions = classify(
        texts or [], model, batch_size=batch_size, backend=backend, show_progress=show_progress
    )
    if out is not None:
        write_predictions(predictions, out)
    return predictions


def evaluate(
    model: str,
    data: str,
    *,
    split: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    seed: int | None = None,
    batch_size: int = 64,
    backend: str = "torch",
    show_progress: bool = False,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision / recall / F1 and the confusion matrix of a
    fine-tuned classifier on `data` (labels matched to the model's by name, any case).

    `split`: train / validation / test (carved with the seed and sizes the model was trained
    with, read from its plmkit.json), all (every row, the default for local files), or a hub
    split string. Columns and seed default to what the model was trained with.
    """
    from plmkit.data import load_split, source_kind

    require_positive(batch_size, "batch_size")
    label_names = require_classifier(model, "evaluate")
    trained = _training_data(model)
    same_data = trained.get("source") == data
    text_column = text_column or (trained.get("text_column") if same_data else None) or "text"
    label_column = label_column or (trained.get("label_column") if same_data else None) or "label"
    if split is None:
        split = "test" if source_kind(data) == "hub" else "all"
    dataset = load_split(
        data,
        split,
        text_column=text_column,
        label_column=label_column,
        seed=seed if seed is not None else trained.get("seed", 42),
        test_size=trained.get("test_size", 0.1),
        validation_size=trained.get("validation_size", 0.1),
        label_names=label_names,
    )
    clf = _load(model, backend)  # the data is read and its labels matched: now the model
    matrix = stream_confusion(
        clf.forward,
        clf.tokenizer,
        preprocess(dataset.texts, clf),
        dataset.labels or [],
        len(clf.label_names),
        batch_size,
        show_progress,
    )
    report = matrix.report(clf.label_names)
    report.update(model=model, data=dataset.source, split=dataset.split)
    report["data_hash"] = dataset.data_hash()
    return report


def _training_data(model: str) -> dict[str, Any]:
    """The `data` block of the model's plmkit.json (source, columns, seed, split sizes)."""
    from plmkit import loading

    return read_json(loading.model_dir(model) / RESULTS_FILE).get("data", {})
