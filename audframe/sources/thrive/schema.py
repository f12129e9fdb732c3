"""Thrive's one lake table, declared as data: its columns, dtypes and what each holds."""

from __future__ import annotations

from ..._schema import Column, Table

_c = Column

#: The partition key: one partition per tenant (a column of the path, not of the table).
KEY = "tenant_id"

AUDIENCES = Table(
    "thrive/audiences",
    key=("id",),
    signature=frozenset({"id", "category"}),
    columns=(
        _c("id", "string", "the audience's or structure's id (24 hex characters)"),
        _c("name", "string", "display name"),
        _c("reference", "string", "external reference; unique per tenant"),
        _c("api_controlled", "boolean", "managed only through the API"),
        _c("category", "string", "`structure` (top level) or `audience` (child)"),
        _c("type", "string", "`manual` or `smart`"),
        _c("parent_id", "string", "the parent structure's id; null on a structure"),
        _c("parent_name", "string", "the parent structure's name"),
        _c("parent_reference", "string", "the parent structure's reference"),
        _c("structure_id", "string", "own id on a structure, the parent's id on an audience"),
        _c("created_at", "timestamp", "`createdAt`, UTC"),
        _c("updated_at", "timestamp", "`updatedAt`, UTC"),
        _c("extra", "string", "the record's keys this table does not know, as JSON text"),
    ),
)
