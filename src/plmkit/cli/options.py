"""CLI options generated from the config dataclasses: one source of truth per option.

`@config_options(FinetuneConfig)` gives a command one `--flag` per dataclass field, with the
field's default, its type and its docstring as the help text, and hands the command a built
config instead of the loose values. A field added to a config is on the command line at once;
a test checks that every field is reachable.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer


@functools.cache
def field_docs(config_cls: type) -> dict[str, str]:
    """{field: docstring} from the string literal written under each dataclass field."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(config_cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    # A help text names other options as the user types them: from_scratch -> --from-scratch.
    flags = {name: "--" + name.replace("_", "-") for name in docs if "_" in name}
    if flags:
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, flags)) + r")\b")
        docs = {k: pattern.sub(lambda m: flags[m.group(1)], v) for k, v in docs.items()}
    return docs


@dataclasses.dataclass(frozen=True)
class Flag:
    """How one field appears on the command line when its name alone is not enough."""

    names: tuple[str, ...] = ()
    """Option names, e.g. ("--bf16/--fp32",) or ("--probe",); default --field-name."""
    help: str | None = None
    """Help text (default: the field's docstring)."""
    panel: str | None = None
    """rich help panel the option is listed under."""


def _cli_type(annotation: Any) -> Any:
    """The type Typer parses: Optional[X] -> X | None, list[X] -> list[X] (repeatable);
    `bool | str` (resume: a flag or a checkpoint path) is offered as a flag."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if bool in args:
            return bool | None if type(None) in typing.get_args(annotation) else bool
        if len(args) == 1:
            return args[0] | None
    if origin is list:
        return list[typing.get_args(annotation)[0]] | None
    return annotation


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    return None  # default_factory fields (lists): None on the CLI, the factory's value after


def _is_optional_str(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return str in args and type(None) in args


def config_options(
    config_cls: type,
    *,
    exclude: tuple[str, ...] = (),
    flags: dict[str, Flag] | None = None,
    defaults: dict[str, Any] | None = None,
    panel: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command taking `config: config_cls`: the command's own parameters come
    first, then one option per field of `config_cls` not in `exclude`."""
    flags = flags or {}
    defaults = defaults or {}
    hints = typing.get_type_hints(config_cls)
    docs = field_docs(config_cls)
    fields = [f for f in dataclasses.fields(config_cls) if f.init and f.name not in exclude]

    def option(field: dataclasses.Field) -> inspect.Parameter:
        flag = flags.get(field.name, Flag())
        names = flag.names or ("--" + field.name.replace("_", "-"),)
        cli_type = _cli_type(hints[field.name])
        info = typer.Option(
            *names,
            help=flag.help or docs.get(field.name, ""),
            rich_help_panel=flag.panel or panel,
            show_default=_default(field) not in (None, False, ""),
        )
        default = defaults.get(field.name, _default(field))
        annotation = Annotated[cli_type, info]
        return inspect.Parameter(
            field.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command, eval_str=True)
        kept = [p for name, p in own.parameters.items() if name != "config"]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            values = {}
            for field in fields:
                value = kwargs.pop(field.name)
                if value is None and field.default_factory is not dataclasses.MISSING:
                    continue  # a repeatable option given no times: the field's own default
                if value == "" and _is_optional_str(hints[field.name]):
                    value = None  # `--label-column ""` turns an optional column off
                values[field.name] = value
            return command(*args, config=config_cls(**values), **kwargs)

        run.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=kept + [option(f) for f in fields]
        )
        return run

    return decorate
