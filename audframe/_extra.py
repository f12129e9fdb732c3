"""``extra_columns=``: JSONPath expressions evaluated on each raw record, one column each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._options import on_command_line, option
from .errors import InputError


@dataclass(frozen=True)
class ExtraColumns:
    """Compiled expressions, by the column name each one fills."""

    expressions: dict[str, Any]

    def evaluate(self, records: Sequence[Any]) -> dict[str, list[Any]]:
        """One list per column: a single match gives its value, several a list, none null."""
        columns: dict[str, list[Any]] = {}
        for name, expression in self.expressions.items():
            find = expression.find
            values: list[Any] = []
            for record in records:
                matches = find(record) if isinstance(record, dict | list) else ()
                if not matches:
                    values.append(None)
                elif len(matches) == 1:
                    values.append(matches[0].value)
                else:
                    values.append([m.value for m in matches])
            columns[name] = values
        return columns


def compile_extra_columns(
    mapping: Mapping[str, str] | None, *, reserved: Sequence[str] = ()
) -> ExtraColumns | None:
    """Compile ``{"column": "$.json.path"}`` once per load; None when there is nothing to do.

    Raises:
        InputError: a name that is not a string or clashes with a table column, or an
            expression jsonpath-ng cannot parse.
    """
    if not mapping:
        return None
    if not isinstance(mapping, Mapping):
        raise InputError(
            f'{option("extra_columns")} must be a dict like {{"column": "$.json.path"}}, '
            f"got {type(mapping).__name__}"
        )
    import jsonpath_ng.ext

    parse: Any = getattr(jsonpath_ng.ext, "parse")  # noqa: B009 (not re-exported for mypy)

    expressions: dict[str, Any] = {}
    for name, path in mapping.items():
        if not isinstance(name, str) or not name:
            raise InputError(
                f"{option('extra_columns')} names must be non-empty strings, got {name!r}"
            )
        if name in reserved:
            raise InputError(
                f"{option('extra_columns')} name {name!r} clashes with a column of the table; "
                "pick another"
            )
        if not isinstance(path, str):
            raise InputError(f"extra_columns[{name!r}] must be a JSONPath string, got {path!r}")
        try:
            expressions[name] = parse(path)
        except Exception as exc:
            # Not only jsonpath-ng's JsonPathLexerError and JsonPathParserError: its extensions
            # raise exceptions of their own (``split(x)`` a DefintionInvalid). Whatever the
            # parser raises, the expression is what is wrong.
            given = (
                f"{option('extra_columns')} {name}={path}"
                if on_command_line()
                else f"extra_columns[{name!r}] = {path!r}"
            )
            raise InputError(f"{given} is not a valid JSONPath expression: {exc}") from exc
    return ExtraColumns(expressions)
