"""Unless's normaliser: a body, a parsed body or a list of records into four tidy tables.

The normaliser builds columns, not rows. A body as it came over the wire (bytes or str) is read
by Arrow's JSON reader straight into columns against the documented record shape (:mod:`.arrow`);
anything the shape does not cover (an unknown key, a value of the wrong type, a null record)
sends the body to the exact path instead (:mod:`.records`), which keeps every oddity: unknown
keys and wrong-typed values go to ``extra`` as JSON text. Rules are parsed in chunks by
:mod:`.rules`, so memory stays bounded by the chunk, not by the number of conditions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..._extra import compile_extra_columns
from ..._json import JSONDecodeError, describe, read_body
from ..._timestamps import utc_now_iso
from ...errors import InputError
from .arrow import from_arrow
from .columns import Built, UnlessAudiences, array
from .records import from_records
from .schema import AUDIENCES

__all__ = ["normalize_unless"]


def normalize_unless(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any] | Sequence[Any],
    *,
    extra_columns: Mapping[str, str] | None = None,
) -> UnlessAudiences:
    """The four tables from a saved response, with no network.

    Args:
        body: a response body as it came over the wire (bytes or str), a parsed body of either
            shape (``{"audiences": [...]}`` or ``{"audience": {...}}``), or a list of records.
        extra_columns: ``{"column": "$.json.path"}``, evaluated on each raw record, each giving
            one more column of ``audiences``.

    Returns:
        The tables; ``attrs`` holds ``source="unless"``, ``fetched_at`` (when the tables were
        made), the ``website_ids`` found and the ``account_id`` when there is exactly one.

    Raises:
        InputError: the body is not JSON or not one of the shapes above, or a parsed body holds
            a string that is not valid Unicode. A record that is not an object does not raise:
            it becomes a row of nulls whose ``extra`` holds it under ``"record"`` and whose
            ``rule_error`` says what it was. Nor does a value on the wire that cannot be read
            (a byte that is not UTF-8, a lone surrogate, ``1e400``): it is kept in ``extra``
            as its raw text (see :func:`audframe._json.read_body`).
    """
    extras = compile_extra_columns(extra_columns, reserved=AUDIENCES.names)
    built: Built | None = None
    if extras is None and isinstance(body, bytes | bytearray | memoryview | str):
        try:
            data = body.encode() if isinstance(body, str) else body
        except UnicodeEncodeError:  # lone surrogates: not JSON the wire could carry
            data = b""
        built = from_arrow(data)
    if built is None:
        records = records_of(body)
        built = from_records(records)
        if extras is not None:
            built.extra_columns = extras.evaluate(records)
    return finish(built, attrs_of(built, website_ids=None, account_id=None))


def finish(built: Built, attrs: dict[str, Any]) -> UnlessAudiences:
    try:
        return built.finish(attrs)
    except UnicodeEncodeError as exc:
        # Only a parsed body can hold one: read_body keeps such text from the wire as raw text.
        raise InputError(
            f"a record holds a string that is not valid Unicode (a lone surrogate: {exc.reason})"
        ) from None


def records_of(body: Any) -> list[Any]:
    """The records of any accepted body, or an InputError saying what arrived."""
    if isinstance(body, bytes | bytearray | memoryview | str):
        try:
            body = read_body(body)
        except JSONDecodeError as exc:
            raise InputError(f"an Unless body must be JSON; it is not: {exc}") from None
    if isinstance(body, Mapping):
        if "audiences" in body:
            audiences = body["audiences"]
            if audiences is None:
                return []
            if isinstance(audiences, list | tuple):
                return list(audiences)
            raise InputError(f'"audiences" must be an array, got {describe(audiences)}')
        if "audience" in body:
            audience = body["audience"]
            return [] if audience is None else [audience]
        keys = ", ".join(sorted(map(str, body))) or "none"
        raise InputError(
            'an Unless body must be {"audiences": [...]} or {"audience": {...}}; '
            f"got an object with keys {keys}"
        )
    if isinstance(body, list | tuple):
        return list(body)
    raise InputError(
        "an Unless body must be bytes or str as on the wire, a parsed body or a list of "
        f"records; got {describe(body)}"
    )


def attrs_of(
    built: Built, *, website_ids: list[str] | None, account_id: str | None
) -> dict[str, Any]:
    if website_ids is None:
        found = pc.unique(array(built.audiences["website_id"], pa.string())).drop_null()
        website_ids = sorted(found.to_pylist())
    if account_id is None:
        accounts = pc.unique(array(built.audiences["account_id"], pa.string())).drop_null()
        account_id = accounts[0].as_py() if len(accounts) == 1 else None
    return {
        "source": "unless",
        "fetched_at": utc_now_iso(),
        "website_ids": website_ids,
        "account_id": account_id,
    }
