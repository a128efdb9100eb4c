"""The Typer app and what every command shares: `-h`, `--version`, the help panels in the
order of the workflow, the one-line error (exit 2, never a traceback) and JSON output.

Commands live in one module per stage of the workflow (start, inference, training, serving,
measuring); each parses, calls one library function and prints.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from typing import Annotated, Any

import typer

from plmkit.errors import DiskFullError, PlmError, disk_full

# plmkit works from local files; the hub is never contacted unless the user opts in with
# HF_HUB_OFFLINE=0 (the library decides the same way: plmkit.paths.hub_offline). Set here
# too so that huggingface_hub and datasets, which read it once at import, agree.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# OpenMP's wait policy is left to the user. Measured on a quiet 2-core Zen 5: PASSIVE cost
# torch generate 6% and llama.cpp with 2 threads 70% (170 -> 46 tok/s); on a CPU shared with
# other jobs it is the other way round. So plmkit keeps the default (what the Hugging Face
# baselines in `plm bench` get too) and decodes single streams on one llama.cpp thread, which
# waits on nobody; `plm doctor` suggests OMP_WAIT_POLICY=PASSIVE when it sees a busy CPU.

START = "Start here"
ENCODE = "1. Tokenize and encode"
GENERATE = "2. Fill masks and generate"
CLASSIFY = "3. Fine-tune, evaluate, predict"
PRETRAIN = "4. Pre-train"
SERVE = "5. Serve"
MEASURE = "6. Measure"


def _conventional_help() -> None:
    """Help in the conventions users know from click and argparse: typer writes a required
    argument as `{prompt}` and an optional one as `[texts]...` in the usage line; here they
    read `PROMPT` and `[TEXTS]...` (typer pinned below 0.29: see pyproject.toml)."""
    from typer.core import TyperArgument

    shown = getattr(TyperArgument, "make_metavar", None)
    if shown is None:  # another typer: its own help
        return

    def make_metavar(self, ctx, *, usage: bool = False) -> str:
        if not usage:
            return shown(self, ctx)
        name = self.metavar or (self.name or "").upper()
        name = name if self.required or name.startswith("[") else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    TyperArgument.make_metavar = make_metavar


_conventional_help()

app = typer.Typer(
    name="plm",
    help="Pre-train, fine-tune, run and serve BERT- and GPT-style models, offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from plmkit import __version__

        typer.echo(f"plmkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show the version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Pre-train, fine-tune, run and serve BERT- and GPT-style models, offline."""


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="alias, hub id or directory")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]


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


def _in_flags(error: PlmError, options: list[str]) -> PlmError:
    """The library names its parameters (`max_new_tokens must be > 0`); on the command line
    the user typed flags, so the message names the flag (`--max-new-tokens must be > 0`)."""
    for name in options:
        flag = "--" + name.replace("_", "-")
        for field in ("message", "fix"):
            text = getattr(error, field)
            if "_" in name:
                text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", flag, text)
            else:  # a plain word is a flag only where it is the subject ("top_k must ...")
                text = re.sub(rf"(^|(?<=pass )){re.escape(name)}(?= )", flag, text)
            setattr(error, field, text)
    return error


def disk_full_error(found: BaseException) -> DiskFullError:
    """The one line for a write that found the disk full (`found`: what `disk_full` found),
    naming the file where the error does and the cache, plmkit's largest writer
    (conversions, exports, the bench's models)."""
    from plmkit.paths import cache_dir

    written = found.filename if isinstance(found, OSError) else None
    where = f" while writing {written}" if written else ""
    return DiskFullError(
        f"the disk is full{where} (no space left on the device)",
        f"free space on that disk, or set PLMKIT_CACHE to a folder on a disk with room "
        f"(the cache is now {cache_dir()}), then run the command again",
    )


def command(name: str, panel: str, **kwargs: Any):
    """@app.command under a help panel, mapping PlmError to one line and its exit code (2
    for the user's input), and a full disk to one line and exit code 1."""

    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kw):
            try:
                _quiet_transformers()
                return func(*args, **kw)
            except PlmError as error:
                typer.echo(_in_flags(error, list(kw)).one_line(), err=True)
                raise typer.Exit(error.exit_code) from None
            except Exception as error:
                found = disk_full(error)
                if found is None:
                    raise
                full = disk_full_error(found)
                typer.echo(full.one_line(), err=True)
                raise typer.Exit(full.exit_code) from None

        return app.command(name, rich_help_panel=panel, **kwargs)(run)

    return wrap


_NUMBERS = re.compile(r"\[(\s*-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*\s*)\]")


def echo_json(data: Any) -> None:
    """One JSON object, indented, with lists of numbers (embeddings, ids) kept on one line."""
    text = json.dumps(data, indent=1, default=str, ensure_ascii=False)
    one_line = _NUMBERS.sub(
        lambda m: "[" + re.sub(r"\s+", "", m.group(1)).replace(",", ", ") + "]", text
    )
    typer.echo(one_line)
