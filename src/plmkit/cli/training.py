"""Training commands: finetune, evaluate, predict (step 3); pretrain, compare (step 4).

`finetune` and `pretrain` take one option per field of FinetuneConfig / PretrainConfig
(`plmkit.cli.options`), so the dataclasses are the one place an option is declared.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from plmkit.backends.registry import ENCODER_BACKENDS
from plmkit.cli import console
from plmkit.cli.base import CLASSIFY, PRETRAIN, JsonOpt, command, echo_json
from plmkit.cli.inference import ChunkRowsOpt, ShardOpt, run_in_chunks
from plmkit.cli.options import Flag, config_options
from plmkit.config import FinetuneConfig, PretrainConfig
from plmkit.training import distributed

ClassifierBackendOpt = Annotated[str, typer.Option(help=", ".join(ENCODER_BACKENDS))]
MODEL = Flag(("--model", "-m"))
BF16 = Flag(("--bf16/--fp32",))


@command("finetune", CLASSIFY)
@config_options(
    FinetuneConfig,
    flags={
        "model": MODEL,
        "bf16": BF16,
        "freeze_embeddings": Flag(("--freeze-embeddings/--train-embeddings",)),
    },
)
def finetune_cmd(as_json: JsonOpt = False, *, config: FinetuneConfig) -> None:
    """Fine-tune an encoder into a text classifier; saves the model and plmkit.json to --out."""
    from plmkit.recipes.finetune_classifier import finetune

    if distributed.needs_launch(config.nproc):
        raise typer.Exit(distributed.launch_local(config.nproc, sys.argv[1:]))
    main = distributed.check_launch(config.nproc).rank == 0
    result = finetune(config, on_event=console.finetune_event if main and not as_json else None)
    if not main:  # rank 0 prints; the others trained alongside it
        return
    record = result.record
    if as_json:
        echo_json(
            {k: v for k, v in record.items() if k != "training"}
            | {"training": {k: v for k, v in record["training"].items() if k != "log_history"}}
        )
        return
    for name, report in record["metrics"].items():
        typer.echo(
            f"{name:10} accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}"
        )
    t = record["training"]
    typer.echo(
        f"trained in {t['seconds']} s ({t['samples_per_second']} samples/s, {record['dtype']}); "
        f"saved to {result.out}"
    )


@command("evaluate", CLASSIFY)
def evaluate_cmd(
    model_dir: Annotated[str, typer.Argument(help="a directory made by plm finetune")],
    data: Annotated[str, typer.Option(help="movie-snippets, a file or glob, or a hub id")],
    split: Annotated[
        str | None,
        typer.Option(help="train/validation/test (as in training), all, or a hub split"),
    ] = None,
    text_column: Annotated[str | None, typer.Option(help="default: as in training")] = None,
    label_column: Annotated[str | None, typer.Option(help="default: as in training")] = None,
    seed: Annotated[int | None, typer.Option(help="split seed (default: training's)")] = None,
    batch_size: int = 64,
    as_json: JsonOpt = False,
    backend: ClassifierBackendOpt = "torch-fp32",
) -> None:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix
    (--backend: measure a faster engine's accuracy against fp32's)."""
    from plmkit.metrics import format_report
    from plmkit.pipelines.classify import evaluate

    report = evaluate(
        model_dir,
        data,
        split=split,
        text_column=text_column,
        label_column=label_column,
        seed=seed,
        batch_size=batch_size,
        backend=backend,
        show_progress=not as_json,
    )
    if as_json:
        echo_json(report)
        return
    typer.echo(f"{report['data']} ({report['split']}), model {model_dir}")
    typer.echo(format_report(report))


@command("predict", CLASSIFY)
def predict_cmd(
    model_dir: Annotated[str, typer.Argument(help="a directory made by plm finetune")],
    texts: Annotated[list[str] | None, typer.Argument(help="texts to classify")] = None,
    file: Annotated[
        str | None,
        typer.Option(help="CSV/TSV/JSONL/parquet (--text-column), .txt, or - (stdin, a line each)"),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            help="write every input column plus pred_label, pred_score, p_<label> to "
            ".csv/.tsv/.jsonl/.parquet, or - (stdout; the default with --file)"
        ),
    ] = None,
    text_column: str = "text",
    batch_size: int = 64,
    as_json: JsonOpt = False,
    backend: ClassifierBackendOpt = "auto",
    chunk_rows: ChunkRowsOpt = None,
    shard: ShardOpt = None,
) -> None:
    """Label and class probabilities for TEXTS or a --file, in input order.
    With --chunk-rows / --shard / under torchrun: a --file of any size, in resumable chunks."""
    from plmkit.errors import InvalidInputError
    from plmkit.pipelines.classify import predict

    options = dict(batch_size=batch_size, backend=backend)
    chunked = run_in_chunks(
        "predict", file, out, model_dir, chunk_rows, shard, options, as_json, text_column
    )
    if chunked:
        return

    if out == "-" and as_json:
        raise InvalidInputError("--out - and --json both print to stdout", "pass one of them")
    to_stdout = out == "-" or (file is not None and out is None and not as_json)
    predictions = predict(
        model_dir,
        texts,
        file=sys.stdin if file == "-" else file,
        out=sys.stdout if to_stdout else out,
        text_column=text_column,
        batch_size=batch_size,
        backend=backend,
        show_progress=not as_json,
    )
    if to_stdout:
        return
    if as_json:
        echo_json([p.to_dict() for p in predictions])
        return
    for p in predictions[:20]:
        probabilities = "  ".join(f"{k} {v:.3f}" for k, v in p.probabilities.items())
        typer.echo(f"{p.label:12} {p.score:.3f}  [{probabilities}]  {p.text[:80]!r}")
    if len(predictions) > 20:
        typer.echo(f"... {len(predictions) - 20} more")
    if out is not None:
        typer.echo(f"wrote {len(predictions)} predictions to {out}")


@command("pretrain", PRETRAIN)
@config_options(
    PretrainConfig,
    exclude=("show_progress",),
    flags={"model": MODEL, "bf16": BF16, "probes": Flag(("--probe",))},
)
def pretrain_cmd(
    objective: Annotated[str, typer.Argument(help="mlm (BERT-style) or clm (GPT-style)")],
    as_json: JsonOpt = False,
    *,
    config: PretrainConfig,
) -> None:
    """Pre-train with MLM or CLM on your text: continued from a model, or --from-scratch."""
    from plmkit.recipes.pretrain import pretrain

    if distributed.needs_launch(config.nproc):
        raise typer.Exit(distributed.launch_local(config.nproc, sys.argv[1:]))
    main = distributed.check_launch(config.nproc).rank == 0
    config.show_progress = main and not as_json
    result = pretrain(
        config, objective, on_event=console.pretrain_event if config.show_progress else None
    )
    if not main:  # rank 0 prints; the others trained alongside it
        return
    if as_json:
        results = result.results
        training = {k: v for k, v in results.get("training", {}).items() if k != "log_history"}
        echo_json(results | {"training": training})  # the log history stays in plmkit.json
        return
    console.pretrain_summary(objective, result.results, result.out)


@command("compare", PRETRAIN)
def compare_cmd(
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="starting model (repeat: 2 or more)")
    ],
    data: str = "movie-snippets",
    out: Annotated[str, typer.Option(help="one fine-tuned model per arm + compare.json")] = (
        "runs/compare"
    ),
    seed: Annotated[int, typer.Option(help="same split and head init for every arm")] = 42,
    recipe: Annotated[str, typer.Option(help="fine-tuning recipe for every arm")] = "default",
    epochs: Annotated[float | None, typer.Option(help="default: the recipe's")] = None,
    max_steps: Annotated[int | None, typer.Option(help="stop each arm after N steps")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune several starting models identically (e.g. minilm vs runs/mlm) side by side."""
    from plmkit.recipes.compare import compare_finetuning

    options = {"recipe": recipe, "epochs": epochs, "max_steps": max_steps}
    result = compare_finetuning(
        model,
        data=data,
        out=out,
        seed=seed,
        on_event=None if as_json else console.compare_event,
        **options,
    )
    if as_json:
        echo_json(json.loads(result.path.read_text()))
        return
    width = max(12, *(len(arm.model) for arm in result.arms))
    typer.echo(f"fine-tuned on {data}, seed {seed}, recipe {recipe}: same split for every arm")
    typer.echo(f"{'':22}" + "".join(f"{arm.model:>{width + 2}}" for arm in result.arms))
    for name, pick in (
        ("test accuracy", lambda a: f"{a.test['accuracy']:.4f}"),
        ("test macro-F1", lambda a: f"{a.test['macro_f1']:.4f}"),
        ("validation accuracy", lambda a: f"{a.validation['accuracy']:.4f}"),
        ("fine-tuning seconds", lambda a: f"{a.train_seconds:.0f}"),
    ):
        typer.echo(f"{name:22}" + "".join(f"{pick(arm):>{width + 2}}" for arm in result.arms))
    for arm in result.arms:
        typer.echo(f"{arm.model}: {arm.origin}")
    typer.echo(f"wrote {result.path}")
