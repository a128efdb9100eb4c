"""The `plm` command line: parse, call one plain function, print. No logic lives here.

Every command runs inside `_run`, which turns a PlmError into one line on stderr and
exit status 2 (never a traceback), and quiets transformers' own logging.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from plmkit.cli import console
from plmkit.errors import InvalidInputError, PlmError

# plmkit works from local files; the hub is never contacted unless the user opts in with
# HF_HUB_OFFLINE=0 (with no network, hub lookups otherwise retry for tens of seconds).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# OpenMP's wait policy is left to the user. Measured on a quiet 2-core Zen 5: PASSIVE cost
# torch generate 6% and llama.cpp with 2 threads 70% (170 -> 46 tok/s); on a CPU shared with
# other jobs it is the other way round. So plmkit keeps the default (what the Hugging Face
# baselines in `plm bench` get too) and decodes single streams on one llama.cpp thread, which
# waits on nobody; `plm doctor` suggests OMP_WAIT_POLICY=PASSIVE when it sees a busy CPU.

app = typer.Typer(
    name="plm",
    help="Pre-train, fine-tune, run and serve BERT- and GPT-style models, offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="alias, hub id or directory")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]
ClassifierBackendOpt = Annotated[
    str, typer.Option(help="auto, torch-fp32, torch-bf16, torch-int8, onnx-fp32, onnx-int8")
]


def _quiet_transformers() -> None:
    """transformers logs errors only and shows no progress bars (set before it is imported:
    importing it here would cost every command, bad input included, 0.6 s)."""
    import logging

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)


def command(*names: str, **kwargs: Any):
    """@app.command that maps PlmError to a one-line message and exit code 2."""

    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kw):
            try:
                _quiet_transformers()
                return func(*args, **kw)
            except PlmError as error:
                typer.echo(error.one_line(), err=True)
                raise typer.Exit(error.exit_code) from None

        return app.command(*names, **kwargs)(run)

    return wrap


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=1, default=str, ensure_ascii=False))


@command("models")
def models_cmd(as_json: JsonOpt = False) -> None:
    """List the model aliases and well-known hub ids, and whether each works offline."""
    from plmkit.doctor import model_status
    from plmkit.registry import EMBEDDED

    status = model_status()
    if as_json:
        echo_json(status)
        return
    for alias, spec in EMBEDDED.items():
        typer.echo(f"{alias:10} {spec.kind:8} {status[alias]:28} {spec.description}")
    for name, state in status.items():
        if name not in EMBEDDED:
            typer.echo(f"{name:26} {state}")


@command("tokenize")
def tokenize_cmd(text: str, model: ModelOpt = "minilm", as_json: JsonOpt = False) -> None:
    """Show tokens, ids, special tokens and the attention mask of TEXT."""
    from plmkit.pipelines.tokenize import tokenize

    result = tokenize(text, model)
    if as_json:
        echo_json(result.to_dict())
        return
    typer.echo(f"tokens:         {result.tokens}")
    typer.echo(f"input_ids:      {result.input_ids}")
    typer.echo(f"attention_mask: {result.attention_mask}")
    special = ", ".join(f"{result.tokens[i]}@{i}" for i in result.special_positions)
    typer.echo(f"special tokens: {special or 'none'}  ({result.special_tokens})")


@command("encode")
def encode_cmd(
    texts: Annotated[list[str] | None, typer.Argument(help="texts to encode")] = None,
    file: Annotated[Path | None, typer.Option(help=".txt (a text a line) or .jsonl")] = None,
    model: ModelOpt = "minilm",
    pooling: Annotated[str | None, typer.Option(help="cls, mean or max")] = None,
    normalize: Annotated[
        bool | None, typer.Option("--normalize/--no-normalize", help="L2-normalise")
    ] = None,
    batch_size: int = 32,
    out: Annotated[Path | None, typer.Option(help="write embeddings to .npy or .jsonl")] = None,
    as_json: JsonOpt = False,
    backend: Annotated[
        str, typer.Option(help="auto, torch-fp32, torch-bf16, torch-int8, onnx-fp32, onnx-int8")
    ] = "auto",
) -> None:
    """Token states and pooled sentence embeddings (shapes shown)."""
    from plmkit.inputs import gather_texts
    from plmkit.pipelines.encode import encode, save_embeddings

    items = gather_texts(texts, file)
    result = encode(
        items,
        model,
        pooling=pooling,
        normalize=normalize,
        batch_size=batch_size,
        show_progress=len(items) > 256,
        backend=backend,
    )
    if out is not None:
        save_embeddings(result, items, out)
    if as_json:
        echo_json(
            {
                "shapes": result.shapes,
                "pooling": result.pooling,
                "normalized": result.normalized,
                "embeddings": result.embeddings.tolist() if out is None else str(out),
            }
        )
        return
    for text, shape, tokens, vector in list(
        zip(items, result.shapes, result.tokens, result.embeddings, strict=True)
    )[:5]:
        typer.echo(f"text: {text!r}")
        typer.echo(f"  tokens: {tokens}")
        typer.echo(f"  last_hidden_state shape: {list(shape)}")
        head = ", ".join(f"{v:+.4f}" for v in vector[:6])
        typer.echo(
            f"  {result.pooling}-pooled embedding ({vector.shape[0]} dims"
            f"{', L2-normalised' if result.normalized else ''}): [{head}, ...]"
        )
    if len(items) > 5:
        typer.echo(f"... {len(items) - 5} more; embeddings {list(result.embeddings.shape)}")
    if out is not None:
        typer.echo(f"wrote {list(result.embeddings.shape)} embeddings to {out}")


@command("fill-mask")
def fill_mask_cmd(
    args: Annotated[
        list[str],
        typer.Argument(metavar="[MODEL] TEXT", help="text with [MASK], the model may come first"),
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="alias, hub id or directory (minilm)")
    ] = None,
    top_k: int = 5,
    as_json: JsonOpt = False,
) -> None:
    """Rank tokens for each [MASK] in TEXT (encoders with an MLM head):
    `plm fill-mask runs/mlm "this movie was [MASK] ."` or `plm fill-mask TEXT --model M`."""
    from plmkit.errors import InvalidInputError
    from plmkit.pipelines.fill_mask import fill_mask

    if len(args) > 2 or (len(args) == 2 and model is not None):
        raise InvalidInputError(
            f"fill-mask takes one text, got {len(args)} arguments",
            'quote the text: plm fill-mask runs/mlm "this movie was [MASK] ."',
        )
    text = args[-1]
    model = args[0] if len(args) == 2 else model or "minilm"
    results = fill_mask(text, model, top_k)
    if as_json:
        echo_json([[c.__dict__ for c in candidates] for candidates in results])
        return
    for number, candidates in enumerate(results, 1):
        if len(results) > 1:
            typer.echo(f"mask {number}:")
        for c in candidates:
            typer.echo(f"  {c.score:6.3f}  {c.token:15} {c.sequence}")


@command("generate")
def generate_cmd(
    prompt: str,
    model: Annotated[str, typer.Option("--model", "-m")] = "smollm2",
    max_new_tokens: Annotated[int | None, typer.Option(help="new tokens (default 64)")] = None,
    max_length: Annotated[int | None, typer.Option(help="total tokens, prompt included")] = None,
    strategy: Annotated[str, typer.Option(help="greedy, sample or beam")] = "greedy",
    temperature: float = 1.0,
    top_k: int = 50,
    top_p: float = 1.0,
    num_beams: int = 4,
    repetition_penalty: float = 1.0,
    seed: int | None = None,
    stop: Annotated[list[str] | None, typer.Option(help="stop string (repeatable)")] = None,
    chat: Annotated[bool, typer.Option(help="apply the model's chat template")] = False,
    system: Annotated[str | None, typer.Option(help="system message with --chat")] = None,
    stream: Annotated[bool, typer.Option(help="print tokens as they come")] = True,
    as_json: JsonOpt = False,
    backend: Annotated[
        str,
        typer.Option(
            help="auto, torch-fp32, torch-bf16, ct2-int8, llama-cpp, llama-cpp-q8, llama-cpp-bf16"
        ),
    ] = "auto",
) -> None:
    """Continue PROMPT with a decoder (greedy, sampling, beam; streaming; chat)."""
    from plmkit.config import GenerateConfig
    from plmkit.pipelines.generate import generate

    config = GenerateConfig(
        max_new_tokens=max_new_tokens,
        max_length=max_length,
        strategy=strategy,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        num_beams=num_beams,
        repetition_penalty=repetition_penalty,
        seed=seed,
        stop=stop or [],
        chat=chat,
        system=system,
    )
    streaming = stream and not as_json and strategy != "beam"

    pending_prompt = [] if chat else [prompt]  # echoed with the first streamed text

    def show(text: str) -> None:
        sys.stdout.write("".join(pending_prompt) + text)
        sys.stdout.flush()
        pending_prompt.clear()

    result = generate(prompt, model, config, on_text=show if streaming else None, backend=backend)
    if as_json:
        echo_json({**result.__dict__, "tokens_per_second": result.tokens_per_second})
        return
    if not streaming:
        typer.echo(result.text if chat else prompt + result.text)
    else:
        typer.echo()
    ttft = f", first token {result.first_token_seconds:.2f} s" if result.first_token_seconds else ""
    typer.echo(
        f"[{result.new_tokens} tokens in {result.seconds:.2f} s, "
        f"{result.tokens_per_second:.1f} tok/s{ttft}; finish: {result.finish_reason}]",
        err=True,
    )


@command("mask-demo")
def mask_demo_cmd(
    text: str,
    model: ModelOpt = "minilm",
    seed: int = 0,
    mlm_probability: float = 0.15,
    whole_word: Annotated[bool, typer.Option(help="mask whole words")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show BERT's MLM corruption on TEXT: 15% picked; 80% [MASK], 10% random, 10% kept."""
    from plmkit.pipelines.mask_demo import mask_demo

    result = mask_demo(
        text, model, seed=seed, mlm_probability=mlm_probability, whole_word=whole_word
    )
    if as_json:
        echo_json({"tokens": [t.__dict__ for t in result.tokens], "measured": result.measured})
        return
    typer.echo(f"{'pos':>4}  {'token':15} {'picked':8} becomes")
    for t in result.tokens:
        shown = t.shown if t.action != "-" else ""
        typer.echo(f"{t.position:>4}  {t.token:15} {t.action:8} {shown}")
    m = result.measured
    typer.echo(
        f"over {result.repeats} draws of this text: {m['picked_fraction']:.1%} picked; of those "
        f"{m['mask_fraction']:.1%} [MASK], {m['random_fraction']:.1%} random, "
        f"{m['kept_fraction']:.1%} kept"
    )


@command("demo")
def demo_cmd(
    encoder: Annotated[str, typer.Option(help="encoder for parts 2 and 4")] = "minilm",
    decoder: Annotated[str, typer.Option(help="decoder for part 3")] = "smollm2",
    finetune_steps: Annotated[
        int, typer.Option(help="optimizer steps for part 4's fine-tune (0 skips it)")
    ] = 150,
    out: Annotated[str, typer.Option(help="where part 4 saves its classifier")] = (
        "runs/demo-sentiment"
    ),
) -> None:
    """The reference walkthrough end to end on the embedded models."""
    from plmkit.demo import run_demo

    def stream(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    if finetune_steps < 0:
        raise InvalidInputError(
            f"--finetune-steps must be >= 0, got {finetune_steps}", "pass 0 to skip part 4"
        )
    run_demo(
        typer.echo,
        encoder=encoder,
        decoder=decoder,
        stream=stream,
        finetune_steps=finetune_steps,
        out_dir=out,
    )


@command("serve")
def serve_cmd(
    host: str = "127.0.0.1",
    port: int = 8000,
    preload: Annotated[
        list[str] | None, typer.Option(help="models to load before the first request")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="engine for requests that name none (auto or a backend name)")
    ] = "auto",
) -> None:
    """HTTP API (OpenAI-compatible /v1/embeddings, /v1/completions, /v1/chat/completions)
    and a browser page at /."""
    import uvicorn

    from plmkit.serve.app import create_app

    uvicorn.run(create_app(preload or [], backend), host=host, port=port, log_level="info")


@command("bench")
def bench_cmd(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(help="encode, classify, generate, train, coldstart or all (default)"),
    ] = None,
    quick: Annotated[bool, typer.Option(help="small counts: a smoke run, not numbers")] = False,
    encoder: Annotated[str, typer.Option(help="encoder for encode")] = "minilm",
    classifier: Annotated[
        str | None, typer.Option(help="fine-tuned classifier dir (default: made once)")
    ] = None,
    decoder: Annotated[str, typer.Option(help="decoder for generate")] = "smollm2",
    texts: Annotated[int | None, typer.Option(help="sentences (default 1000)")] = None,
    new_tokens: Annotated[int | None, typer.Option(help="tokens per generation")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Throughput, latency, TTFT and memory of the Hugging Face baselines and plmkit."""
    from plmkit.bench import BenchOptions, format_bench_report, run_bench

    options = BenchOptions(
        quick=quick,
        encoder=encoder,
        classifier=classifier,
        decoder=decoder,
        texts=texts,
        new_tokens=new_tokens,
    )
    report = run_bench(scenarios or ["all"], options, on_progress=lambda m: typer.echo(m, err=True))
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_bench_report(report))


@command("doctor")
def doctor_cmd(as_json: JsonOpt = False) -> None:
    """Versions, offline models, caches, CPU instruction sets and the defaults they imply."""
    from plmkit.doctor import doctor

    report = doctor()
    if as_json:
        echo_json(report)
        return
    typer.echo(f"python {report['python']} on {report['platform']}")
    for section in ("packages", "models", "backends", "cache", "defaults"):
        typer.echo(f"{section}:")
        for key, value in report[section].items():
            typer.echo(f"  {key:24} {value}")
    cpu = report["cpu"]
    typer.echo(
        f"cpu: {cpu['model']} {cpu['generation']} ({cpu['cores']} cores, "
        f"torch threads {cpu['threads']}, "
        f"torch kernels {cpu['torch_capability']})"
    )
    typer.echo("  " + " ".join(f"{k}={'yes' if v else 'no'}" for k, v in cpu["flags"].items()))
    typer.echo(
        f"  busy with other processes: {report['cpu_busy_elsewhere']} cores; "
        f"OMP_WAIT_POLICY {report['omp_wait_policy']}"
    )
    for note in report["notes"]:
        typer.echo(f"note: {note}")


@command("pretrain")
def pretrain_cmd(
    objective: Annotated[str, typer.Argument(help="mlm (BERT-style) or clm (GPT-style)")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="model to continue (default minilm / smollm2)"),
    ] = None,
    data: Annotated[
        str, typer.Option(help="movie-snippets, .txt/CSV/JSONL/parquet file or glob, hub id")
    ] = "movie-snippets",
    out: Annotated[
        str | None, typer.Option(help="output directory (default runs/OBJECTIVE)")
    ] = None,
    text_column: str = "text",
    label_column: Annotated[
        str | None, typer.Option(help="labelled data: hold out plm finetune's eval rows")
    ] = "label",
    from_scratch: Annotated[bool, typer.Option(help="build a new model from a config")] = False,
    arch: Annotated[
        str | None, typer.Option(help="from scratch: bert, distilbert (mlm); gpt2, llama (clm)")
    ] = None,
    size: Annotated[str, typer.Option(help="from scratch: tiny or small")] = "tiny",
    tokenizer: Annotated[
        str | None, typer.Option(help="from scratch: whose tokenizer (default minilm/smollm2)")
    ] = None,
    train_tokenizer: Annotated[
        bool, typer.Option(help="from scratch: train WordPiece (BERT) / BPE (GPT) on the corpus")
    ] = False,
    vocab_size: int = 8000,
    block_size: int = 128,
    mlm_probability: Annotated[float, typer.Option(help="mlm: share of tokens picked")] = 0.15,
    whole_word: Annotated[bool, typer.Option(help="mlm: mask whole words")] = False,
    epochs: float = 1.0,
    max_steps: Annotated[int | None, typer.Option(help="exact steps (overrides epochs)")] = None,
    batch_size: int = 32,
    learning_rate: Annotated[
        float | None, typer.Option(help="default 1e-4 (continued), 1e-3 (scratch)")
    ] = None,
    warmup_ratio: float = 0.06,
    save_steps: Annotated[int | None, typer.Option(help="checkpoint every N steps")] = None,
    eval_blocks: Annotated[int, typer.Option(help="held-out blocks scored")] = 200,
    pseudo_perplexity_texts: Annotated[
        int, typer.Option(help="mlm: held-out texts for pseudo-perplexity (0 = skip)")
    ] = 100,
    probe: Annotated[
        list[str] | None, typer.Option(help="text with [MASK] (mlm) / prompt (clm), repeatable")
    ] = None,
    bf16: Annotated[
        bool | None, typer.Option("--bf16/--fp32", help="default: bf16 where native and faster")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="continue from the last checkpoint in --out")
    ] = False,
    seed: int = 42,
    as_json: JsonOpt = False,
) -> None:
    """Pre-train with MLM or CLM on your text: continued from a model, or --from-scratch."""
    from plmkit.config import PretrainConfig
    from plmkit.errors import InvalidInputError

    if objective not in ("mlm", "clm"):
        raise InvalidInputError(f"unknown objective {objective!r}", "use plm pretrain mlm or clm")
    config = PretrainConfig(
        data=data,
        out=out or f"runs/{objective}",
        model=model,
        text_column=text_column,
        label_column=label_column or None,
        from_scratch=from_scratch,
        arch=arch,
        size=size,
        tokenizer=tokenizer,
        train_tokenizer=train_tokenizer,
        vocab_size=vocab_size,
        block_size=block_size,
        mlm_probability=mlm_probability,
        whole_word=whole_word,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_ratio=warmup_ratio,
        save_steps=save_steps,
        eval_blocks=eval_blocks,
        pseudo_perplexity_texts=pseudo_perplexity_texts,
        probes=probe or [],
        bf16=bf16,
        resume=resume,
        seed=seed,
        show_progress=not as_json,
    )
    if objective == "mlm":
        from plmkit.recipes.pretrain_mlm import pretrain_mlm as run
    else:
        from plmkit.recipes.pretrain_clm import pretrain_clm as run
    result = run(config, on_event=None if as_json else console.pretrain_event)
    if as_json:
        echo_json(result.results)
        return
    console.pretrain_summary(objective, result.results, result.out)


@command("compare")
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
    show = None if as_json else console.compare_event
    result = compare_finetuning(model, data=data, out=out, seed=seed, on_event=show, **options)
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


@command("finetune")
def finetune_cmd(
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="alias, hub id or directory (default: the recipe's)"),
    ] = None,
    data: Annotated[
        str, typer.Option(help="movie-snippets, a CSV/TSV/JSONL/parquet file or glob, hub id")
    ] = "movie-snippets",
    out: Annotated[str, typer.Option(help="output directory")] = "runs/classifier",
    recipe: Annotated[
        str, typer.Option(help="default (fast, minilm), reference (the tutorial's), accurate")
    ] = "default",
    text_column: str = "text",
    label_column: str = "label",
    split: Annotated[
        str | None, typer.Option(help="hub datasets: the split to use, e.g. 'train[:10%]'")
    ] = None,
    seed: int = 42,
    test_size: float = 0.1,
    validation_size: float = 0.1,
    epochs: Annotated[float | None, typer.Option(help="default: the recipe's")] = None,
    batch_size: Annotated[int | None, typer.Option(help="default: the recipe's")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="default: the recipe's")] = None,
    warmup_ratio: Annotated[float | None, typer.Option(help="default: the recipe's")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="default: the recipe's")] = None,
    max_length: Annotated[int | None, typer.Option(help="default: from the data")] = None,
    max_steps: Annotated[int | None, typer.Option(help="stop after N steps")] = None,
    bf16: Annotated[
        bool | None, typer.Option("--bf16/--fp32", help="default: bf16 where native and faster")
    ] = None,
    class_weights: Annotated[str, typer.Option(help="none or auto (imbalanced data)")] = "none",
    early_stopping_patience: Annotated[
        int | None, typer.Option(help="evaluations without improvement (0 = off)")
    ] = None,
    freeze_embeddings: Annotated[
        bool | None, typer.Option("--freeze-embeddings/--train-embeddings")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue from the last checkpoint")] = False,
    keep_checkpoints: bool = False,
    drop_empty: Annotated[bool, typer.Option(help="drop rows with empty text/label")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune an encoder into a text classifier; saves the model and plmkit.json to --out."""
    from plmkit.config import FinetuneConfig
    from plmkit.recipes.finetune_classifier import finetune

    config = FinetuneConfig(
        model=model,
        data=data,
        out=out,
        recipe=recipe,
        text_column=text_column,
        label_column=label_column,
        split=split,
        seed=seed,
        test_size=test_size,
        validation_size=validation_size,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        max_length=max_length,
        max_steps=max_steps,
        bf16=bf16,
        class_weights=class_weights,
        early_stopping_patience=early_stopping_patience,
        freeze_embeddings=freeze_embeddings,
        resume=resume,
        keep_checkpoints=keep_checkpoints,
        drop_empty=drop_empty,
    )
    result = finetune(config, on_event=None if as_json else console.finetune_event)
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


@command("evaluate")
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


@command("predict")
def predict_cmd(
    model_dir: Annotated[str, typer.Argument(help="a directory made by plm finetune")],
    texts: Annotated[list[str] | None, typer.Argument(help="texts to classify")] = None,
    file: Annotated[
        Path | None, typer.Option(help="CSV/TSV/JSONL/parquet (--text-column) or .txt")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="write predictions to .csv/.tsv/.jsonl")] = None,
    text_column: str = "text",
    batch_size: int = 64,
    as_json: JsonOpt = False,
    backend: ClassifierBackendOpt = "auto",
) -> None:
    """Label and class probabilities for TEXTS or a --file, in input order."""
    from plmkit.errors import InvalidInputError
    from plmkit.pipelines.classify import classify, classify_file, write_predictions

    if file is not None and texts:
        raise InvalidInputError("both texts and --file given", "pass texts or --file, not both")
    if file is None and out is not None and not texts:
        raise InvalidInputError("--out without --file or texts", "pass --file in.csv")
    if file is not None:
        if out is None:
            raise InvalidInputError("--file needs --out", "pass --out predictions.csv")
        predictions = classify_file(
            file,
            model_dir,
            out,
            text_column=text_column,
            batch_size=batch_size,
            backend=backend,
            show_progress=not as_json,
        )
    else:
        predictions = classify(texts or [], model_dir, batch_size=batch_size, backend=backend)
        if out is not None:
            write_predictions(predictions, out)
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


def main() -> None:
    app()

