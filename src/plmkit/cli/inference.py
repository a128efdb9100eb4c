"""Inference commands: tokenize, mask-demo, encode (step 1); fill-mask, generate (step 2)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from plmkit.backends.registry import DECODER_BACKENDS, ENCODER_BACKENDS
from plmkit.cli.base import ENCODE, GENERATE, JsonOpt, ModelOpt, command, echo_json
from plmkit.cli.options import Flag, config_options
from plmkit.config import GenerateConfig

ChunkRowsOpt = Annotated[
    int | None,
    typer.Option(
        help="stream --file to --out N rows at a time: bounded memory; a rerun continues where "
        "a crashed run stopped (chunks under OUT.parts/)"
    ),
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        help="i/n: only the chunks c with c mod n = i (other processes or machines take the rest; "
        "OUT is merged when all are there, or by plm merge OUT); under torchrun: the rank"
    ),
]


def run_in_chunks(
    kind: str,
    file: str | None,
    out: str | None,
    model: str,
    chunk_rows: int | None,
    shard: str | None,
    options: dict,
    as_json: bool,
    text_column: str = "text",
) -> bool:
    """`--file` to `--out` in chunks when asked (--chunk-rows, --shard, or under torchrun:
    shard RANK/WORLD_SIZE, rank 0 merging); False when not asked."""
    from pathlib import Path

    from plmkit.errors import InvalidInputError
    from plmkit.pipelines.batch_files import DEFAULT_CHUNK_ROWS, Shard
    from plmkit.pipelines.batch_inference import (
        encode_in_chunks,
        predict_in_chunks,
        wait_and_merge,
    )
    from plmkit.training.distributed import world

    here = world()
    by_rank = here.size > 1 and shard is None
    if not (chunk_rows or shard or by_rank):
        return False
    if file in (None, "-") or out in (None, "-"):
        raise InvalidInputError(
            "chunked runs (--chunk-rows, --shard, torchrun) read a --file and write an --out",
            "pass --file PATH --out PATH (e.g. --out embeddings.npy)",
        )
    part = Shard.parse(shard) if shard else Shard(here.rank, here.size)
    compute = encode_in_chunks if kind == "encode" else predict_in_chunks
    extra = {} if kind == "encode" else {"text_column": text_column}
    summary = compute(
        Path(file),
        Path(out),
        model,
        shard=part,
        chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
        show_progress=not as_json and here.rank == 0,
        merge=not by_rank,
        **extra,
        **options,
    )
    if by_rank:
        if here.rank != 0:  # rank 0 merges and reports
            return True
        wait_and_merge(Path(file), Path(out))
        summary.merged = True
    if as_json:
        echo_json(summary.to_dict())
    elif summary.merged:
        typer.echo(f"wrote {summary.rows} rows to {out} ({summary.chunks} chunks)")
    else:
        typer.echo(
            f"shard {part.index}/{part.count}: {summary.computed} chunks computed, "
            f"{summary.skipped} already there; {out} is merged when every shard is done "
            f"(or: plm merge {out})"
        )
    return True


@command("merge", ENCODE)
def merge_cmd(
    out: Annotated[str, typer.Argument(help="the --out of a chunked encode / predict run")],
    keep_parts: Annotated[bool, typer.Option(help="keep OUT.parts/ after merging")] = False,
) -> None:
    """Merge the chunks of a sharded `plm encode/predict --file` run into OUT, in input order."""
    from pathlib import Path

    from plmkit.pipelines.batch_files import merge_parts, parts_dir

    path = merge_parts(parts_dir(Path(out)), Path(out), keep_parts=keep_parts)
    typer.echo(f"merged {path}")


@command("tokenize", ENCODE)
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


@command("mask-demo", ENCODE)
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


@command("encode", ENCODE)
def encode_cmd(
    texts: Annotated[list[str] | None, typer.Argument(help="texts to encode")] = None,
    file: Annotated[
        str | None, typer.Option(help=".txt (a text a line), .jsonl, or - (stdin, a text a line)")
    ] = None,
    model: ModelOpt = "minilm",
    pooling: Annotated[str | None, typer.Option(help="cls, mean or max")] = None,
    normalize: Annotated[
        bool | None, typer.Option("--normalize/--no-normalize", help="L2-normalise")
    ] = None,
    batch_size: int = 32,
    out: Annotated[
        str | None, typer.Option(help="write embeddings to .npy or .jsonl, or - (JSONL, stdout)")
    ] = None,
    as_json: JsonOpt = False,
    backend: Annotated[str, typer.Option(help=", ".join(ENCODER_BACKENDS))] = "auto",
    chunk_rows: ChunkRowsOpt = None,
    shard: ShardOpt = None,
) -> None:
    """Token states and pooled sentence embeddings (shapes shown; with --out, one line).
    With --chunk-rows / --shard / under torchrun: a --file of any size, in resumable chunks."""
    from plmkit.data import gather_texts
    from plmkit.errors import InvalidInputError
    from plmkit.pipelines.encode import check_embeddings_path, encode, save_embeddings

    options = dict(pooling=pooling, normalize=normalize, batch_size=batch_size, backend=backend)
    if run_in_chunks("encode", file, out, model, chunk_rows, shard, options, as_json):
        return

    if out == "-" and as_json:
        raise InvalidInputError("--out - and --json both print to stdout", "pass one of them")
    target = sys.stdout if out == "-" else None if out is None else check_embeddings_path(out)
    items = gather_texts(texts, sys.stdin if file == "-" else file)
    result = encode(
        items,
        model,
        pooling=pooling,
        normalize=normalize,
        batch_size=batch_size,
        show_progress=len(items) > 256,
        backend=backend,
    )
    if target is not None:
        save_embeddings(result, items, target)
    if target is sys.stdout:
        return
    if as_json:
        rows = [
            {"text": text, "shape": list(shape)}
            | ({} if out is not None else {"embedding": vector.tolist()})
            for text, shape, vector in zip(items, result.shapes, result.embeddings, strict=True)
        ]
        echo_json(
            {
                "pooling": result.pooling,
                "normalized": result.normalized,
                "dimensions": int(result.embeddings.shape[1]),
                "items": rows,
            }
            | ({"out": str(out)} if out is not None else {})
        )
        return
    if out is not None:
        typer.echo(
            f"wrote {list(result.embeddings.shape)} {result.pooling}-pooled embeddings"
            f"{' (L2-normalised)' if result.normalized else ''} to {out}"
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


def _model_and_text(args: list[str], model: str | None) -> tuple[str, str]:
    """`fill-mask [MODEL] TEXT`: the model may come first, as in `plm fill-mask runs/mlm T`."""
    from plmkit.errors import InvalidInputError

    if len(args) > 2 or (len(args) == 2 and model is not None):
        raise InvalidInputError(
            f"fill-mask takes one text, got {len(args)} arguments",
            'quote the text: plm fill-mask runs/mlm "this movie was [MASK] ."',
        )
    return (args[0] if len(args) == 2 else model or "minilm"), args[-1]


@command("fill-mask", GENERATE)
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
    from plmkit.pipelines.fill_mask import fill_mask

    model, text = _model_and_text(args, model)
    results = fill_mask(text, model, top_k)
    if as_json:
        echo_json([[c.__dict__ for c in candidates] for candidates in results])
        return
    for number, candidates in enumerate(results, 1):
        if len(results) > 1:
            typer.echo(f"mask {number}:")
        for c in candidates:
            typer.echo(f"  {c.score:6.3f}  {c.token:15} {c.sequence}")


@command("generate", GENERATE)
@config_options(GenerateConfig, flags={"stop": Flag(("--stop",))})
def generate_cmd(
    prompt: str,
    model: Annotated[str, typer.Option("--model", "-m", help="alias, hub id or directory")] = (
        "smollm2"
    ),
    stream: Annotated[bool, typer.Option(help="print tokens as they come")] = True,
    as_json: JsonOpt = False,
    backend: Annotated[str, typer.Option(help=", ".join(DECODER_BACKENDS))] = "auto",
    *,
    config: GenerateConfig,
) -> None:
    """Continue PROMPT with a decoder (greedy, sampling, beam; streaming; chat). Ctrl-C stops
    it: what was generated so far is printed (finish: interrupted) and the exit code is 130."""
    from plmkit.backends import llama_cpp_backend
    from plmkit.pipelines.generate import DEFAULT_NEW_TOKENS, GenerationInterrupted, generate

    # one decode in this process: a short one starts sooner with llama.cpp's file mapped
    llama_cpp_backend.expect_one_shot(
        config.max_new_tokens or config.max_length or DEFAULT_NEW_TOKENS
    )
    streaming = stream and not as_json and config.strategy != "beam"
    pending_prompt = [] if config.chat else [prompt]  # echoed with the first streamed text

    def show(text: str) -> None:
        sys.stdout.write("".join(pending_prompt) + text)
        sys.stdout.flush()
        pending_prompt.clear()

    on_text = show if streaming else None
    try:
        result, interrupted = generate(prompt, model, config, on_text, backend), False
    except GenerationInterrupted as stop:
        result, interrupted = stop.result, True
    if as_json:
        echo_json({**result.__dict__, "tokens_per_second": result.tokens_per_second})
    else:
        if not streaming:
            typer.echo(result.text if config.chat else prompt + result.text)
        else:
            typer.echo("".join(pending_prompt))  # the prompt, if no text came; the line's end
        first = result.first_token_seconds
        ttft = f", first token {first:.2f} s" if first else ""
        tokens = "token" if result.new_tokens == 1 else "tokens"
        typer.echo(
            f"[{result.new_tokens} {tokens} in {result.seconds:.2f} s, "
            f"{result.tokens_per_second:.1f} tok/s{ttft}; finish: {result.finish_reason}]",
            err=True,
        )
    if interrupted:
        raise typer.Exit(130)  # the shell's code for a SIGINT
