"""Unless's four lake tables, declared as data: their columns, dtypes and what each holds."""

from __future__ import annotations

from ..._schema import Column, Table

_c = Column

#: The partition key: one partition per website, and a column of every table.
KEY = "website_id"

AUDIENCES = Table(
    "unless/audiences",
    key=("website_id", "rule_id"),
    signature=frozenset({"rule_id", "state"}),
    columns=(
        _c("account_id", "string", "`accountId`"),
        _c("website_id", "string", "`websiteId` (a workspace in the UI)"),
        _c("rule_id", "string", "`ruleId`, the audience's id"),
        _c("name", "string", "display name"),
        _c("state", "string", "`draft`, `live` or `stopped`"),
        _c("prio", "int", "execution order when several audiences apply"),
        _c("disabled", "boolean", "excluded from evaluation"),
        _c("read_only", "boolean", "`readOnly`"),
        _c("exclusive", "boolean", "`exclusive`"),
        _c("is_component", "boolean", "`isComponent`"),
        _c("web_page_path", "string", "`webPagePath`"),
        _c("duration", "int", "`duration`, in `duration_type` units"),
        _c("duration_type", "string", "`minutes`, `hours` or `days`"),
        _c("start_date", "timestamp", "`startDate` (Unix ms), UTC"),
        _c("created_date", "timestamp", "`createdDate` (Unix ms), UTC"),
        _c("updated_date", "timestamp", "`updatedDate` (Unix ms), UTC"),
        _c("rule", "string", "the targeting rule, raw JSON text"),
        _c("rule_error", "string", "why `rule` could not be parsed; null where it parsed"),
        _c("n_variants", "int", "number of variants"),
        _c("n_conditions", "int", "number of leaf conditions in the parsed rule"),
        _c("extra", "string", "the record's keys this table does not know, as JSON text"),
    ),
)

VARIANTS = Table(
    "unless/variants",
    key=("website_id", "rule_id", "position"),
    signature=frozenset({"rule_id", "weight"}),
    columns=(
        _c("website_id", "string", "the audience's website"),
        _c("rule_id", "string", "the audience's id"),
        _c("position", "int", "0-based place in the audience's `variants` list"),
        _c("variant_id", "string", "`id`"),
        _c("variant_name", "string", "`name`"),
        _c("weight", "float", "`weight`, exact as sent (percent)"),
    ),
)

CONDITIONS = Table(
    "unless/conditions",
    key=("website_id", "rule_id", "condition_index"),
    signature=frozenset({"rule_id", "operator"}),
    columns=(
        _c("website_id", "string", "the audience's website"),
        _c("rule_id", "string", "the audience's id"),
        _c("condition_index", "int", "0-based order of the leaf in the rule"),
        _c("path", "string", "the leaf's place, e.g. `and[1].or[0]`; empty for a bare leaf"),
        _c("depth", "int", "groups above the leaf, `not` included"),
        _c("group_op", "string", "nearest enclosing `and` or `or`; null for none"),
        _c("negated", "boolean", "under an odd number of `not`"),
        _c("field", "string", "the leaf's `field`"),
        _c("operator", "string", "the leaf's `operator`"),
        _c("value", "string", "a string as is; any other value as JSON text; null for null"),
        _c("value_type", "string", "string, number, boolean, null, array or object"),
        _c("extra", "string", "the leaf's other keys, as JSON text"),
    ),
)

TAGS = Table(
    "unless/tags",
    key=("website_id", "rule_id", "tag"),
    signature=frozenset({"rule_id", "tag"}),
    columns=(
        _c("website_id", "string", "the audience's website"),
        _c("rule_id", "string", "the audience's id"),
        _c("tag", "string", "one of `audienceTags`"),
    ),
)
