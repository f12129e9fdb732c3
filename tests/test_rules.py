"""The Unless rule parser: paths, depth, group_op, negation, value text, and every bad shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audframe.sources.unless.rules import Condition, ConditionColumns, parse_rule


def leaf(field: str, value: Any = "v", operator: str = "equals") -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


A, B, C, D = leaf("a"), leaf("b"), leaf("c"), leaf("d")


def rows(rule: Any) -> list[tuple[str, int, str | None, bool, str]]:
    """(path, depth, group_op, negated, field) per leaf; fails if the rule has an error."""
    found, error = parse_rule(rule)
    assert error is None, error
    return [(c.path, c.depth, c.group_op, c.negated, c.field) for c in found]


# ---------------------------------------------------------------------------------------------
# shapes that parse
# ---------------------------------------------------------------------------------------------


def test_vendor_example_gives_one_row() -> None:
    found, error = parse_rule('{"and":[{"field":"url","operator":"equals","value":"/"}]}')
    assert error is None
    assert found == [
        Condition(
            path="and[0]",
            depth=1,
            group_op="and",
            negated=False,
            field="url",
            operator="equals",
            value="/",
            value_type="string",
            extra=None,
        )
    ]


def test_not_inside_not_cancels_out() -> None:
    rule = json.dumps({"or": [{"not": {"and": [A, {"not": B}]}}, C]})
    assert rows(rule) == [
        ("or[0].not.and[0]", 3, "and", True, "a"),
        ("or[0].not.and[1].not", 4, "and", False, "b"),
        ("or[1]", 1, "or", False, "c"),
    ]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(A, [("", 0, None, False, "a")], id="bare-leaf"),
        pytest.param(json.dumps(A), [("", 0, None, False, "a")], id="bare-leaf-text"),
        pytest.param({"not": A}, [("not", 1, None, True, "a")], id="not-over-bare-leaf"),
        pytest.param({"not": {"not": A}}, [("not.not", 2, None, False, "a")], id="not-not"),
        pytest.param(
            {"not": [A, B]},
            [("not[0]", 1, None, True, "a"), ("not[1]", 1, None, True, "b")],
            id="not-over-list",
        ),
        pytest.param(
            {"and": [{"not": [A, {"or": [B]}]}]},
            [("and[0].not[0]", 2, "and", True, "a"), ("and[0].not[1].or[0]", 3, "or", True, "b")],
            id="not-list-inside-group",
        ),
        pytest.param(
            {"and": [A, {"or": [B, {"and": [C]}]}, D]},
            [
                ("and[0]", 1, "and", False, "a"),
                ("and[1].or[0]", 2, "or", False, "b"),
                ("and[1].or[1].and[0]", 3, "and", False, "c"),
                ("and[2]", 1, "and", False, "d"),
            ],
            id="document-order",
        ),
        pytest.param(
            {"or": [A, B]},
            [("or[0]", 1, "or", False, "a"), ("or[1]", 1, "or", False, "b")],
            id="or",
        ),
        pytest.param(
            json.dumps({"and": [A]}).encode(), [("and[0]", 1, "and", False, "a")], id="bytes"
        ),
        pytest.param(
            "  " + json.dumps({"and": [A]}) + "\n",
            [("and[0]", 1, "and", False, "a")],
            id="padded-text",
        ),
        pytest.param({"and": [A]}, [("and[0]", 1, "and", False, "a")], id="already-an-object"),
    ],
)
def test_shapes(rule: Any, expected: list[tuple[str, int, str | None, bool, str]]) -> None:
    assert rows(rule) == expected


@pytest.mark.parametrize(
    "rule",
    [None, "", "   ", "null", "{}", {}, '{"and":[]}', {"or": []}, {"not": []}],
    ids=[
        "none",
        "empty",
        "blank",
        "json-null",
        "empty-object-text",
        "empty-object",
        "empty-and",
        "empty-or",
        "empty-not-list",
    ],
)
def test_empty_rules_have_no_conditions_and_no_error(rule: Any) -> None:
    assert parse_rule(rule) == ([], None)


@pytest.mark.parametrize(
    ("value", "text", "kind"),
    [
        pytest.param("/", "/", "string", id="string"),
        pytest.param("", "", "string", id="empty-string"),
        pytest.param("Ünïcødé ✓", "Ünïcødé ✓", "string", id="unicode"),
        pytest.param("true", "true", "string", id="string-that-looks-boolean"),
        pytest.param(2, "2", "number", id="int"),
        pytest.param(-7, "-7", "number", id="negative"),
        pytest.param(2.5, "2.5", "number", id="float"),
        pytest.param(12345678901234567890, "12345678901234567890", "number", id="big-int"),
        pytest.param(True, "true", "boolean", id="true"),
        pytest.param(False, "false", "boolean", id="false"),
        pytest.param(None, None, "null", id="null"),
        pytest.param([1, "a", None], '[1,"a",null]', "array", id="array"),
        pytest.param([], "[]", "array", id="empty-array"),
        pytest.param({"b": 1, "a": [2]}, '{"b":1,"a":[2]}', "object", id="object"),
    ],
)
def test_value_types(value: Any, text: str | None, kind: str) -> None:
    for rule in ({"and": [leaf("x", value)]}, json.dumps({"and": [leaf("x", value)]})):
        (found,), error = parse_rule(rule)
        assert error is None
        assert (found.value, found.value_type) == (text, kind)


def test_float_from_text_keeps_its_json_form() -> None:
    (found,), _ = parse_rule('{"field":"x","operator":"gt","value":1e3}')
    assert (found.value, found.value_type) == ("1000.0", "number")


def test_leaf_without_value_has_null_value_and_type() -> None:
    (found,), error = parse_rule({"field": "cookie", "operator": "exists"})
    assert error is None
    assert (found.value, found.value_type, found.extra) == (None, None, None)


def test_other_leaf_keys_go_to_extra_sorted() -> None:
    rule = {"and": [{"value": "x", "zeta": [1], "field": "url", "alpha": True, "operator": "eq"}]}
    (found,), error = parse_rule(rule)
    assert error is None
    assert found.extra == '{"alpha":true,"zeta":[1]}'
    assert (found.field, found.operator, found.value) == ("url", "eq", "x")


def test_ten_thousand_levels_as_an_object_parse_without_recursion() -> None:
    node: Any = A
    for level in range(10_000):
        node = {"not": node} if level % 2 else {"and": [node]}
    (found,), error = parse_rule(node)
    assert error is None
    assert found.depth == 10_000
    assert found.negated is False  # 5,000 nots
    assert found.path.startswith("not.and[0].not.and[0]")
    assert found.path.endswith("not.and[0]")


def test_ten_thousand_levels_as_text_is_a_rule_error() -> None:
    text = '{"and":[' * 10_000 + json.dumps(A) + "]}" * 10_000
    found, error = parse_rule(text)
    assert found == []
    assert error is not None
    assert error.startswith("invalid JSON")
    assert "depth" in error


# ---------------------------------------------------------------------------------------------
# shapes that do not
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        pytest.param('{"and":[', "invalid JSON: ", id="truncated-json"),
        pytest.param("{'and': []}", "invalid JSON: ", id="python-repr"),
        pytest.param(b"\xff\xfe", "invalid JSON: ", id="bad-utf8"),
        pytest.param("[1, 2]", "rule: expected a group or a leaf, got an array", id="array"),
        pytest.param("42", "rule: expected a group or a leaf, got a number", id="number"),
        pytest.param('"url = /"', "rule: expected a group or a leaf, got a string", id="string"),
        pytest.param("true", "rule: expected a group or a leaf, got a boolean", id="boolean"),
        pytest.param(0, "rule: expected a group or a leaf, got a number", id="object-zero"),
        pytest.param([A], "rule: expected a group or a leaf, got an array", id="object-list"),
        pytest.param({"and": A}, "and: expected a list, got an object", id="and-not-a-list"),
        pytest.param({"or": "x"}, "or: expected a list, got a string", id="or-not-a-list"),
        pytest.param(
            {"and": [1]}, "and[0]: expected a group or a leaf, got a number", id="child-number"
        ),
        pytest.param(
            {"and": [A, None]}, "and[1]: expected a group or a leaf, got null", id="child-null"
        ),
        pytest.param(
            {"and": [A, {}]}, "and[1]: empty object, expected a group or a leaf", id="child-empty"
        ),
        pytest.param(
            {"not": 1}, "not: expected an object or a list, got a number", id="not-scalar"
        ),
        pytest.param({"not": None}, "not: expected an object or a list, got null", id="not-null"),
        pytest.param(
            {"and": [], "or": []},
            "rule: a group takes exactly one key, got and, or",
            id="two-groups",
        ),
        pytest.param(
            {"and": [{**A, "or": [B]}]},
            "and[0]: a group takes exactly one key, got field, operator, or, value",
            id="group-and-leaf",
        ),
        pytest.param(
            {"xor": [A]},
            "rule: expected a group or a leaf, got an object with keys xor",
            id="unknown-op",
        ),
        pytest.param({"field": "url"}, "rule: leaf without operator", id="no-operator"),
        pytest.param({"operator": "eq", "value": 1}, "rule: leaf without field", id="no-field"),
        pytest.param(
            {"and": [{"field": 1, "operator": "eq"}]},
            "and[0]: field must be a string, got a number",
            id="field-number",
        ),
        pytest.param(
            {"field": "x", "operator": None},
            "rule: operator must be a string, got null",
            id="operator-null",
        ),
        pytest.param(
            {"or": [{"not": {"and": [A, {"not": 7}]}}]},
            "or[0].not.and[1].not: expected an object or a list, got a number",
            id="deep-path-in-reason",
        ),
        pytest.param(
            {"field": "x", "operator": "eq", "value": float("nan")},
            "rule: value nan is not a JSON number",
            id="nan",
        ),
        pytest.param(
            {"field": "x", "operator": "eq", "value": {1, 2}},
            "rule: value is not a JSON value (set)",
            id="set",
        ),
    ],
)
def test_malformed(rule: Any, reason: str) -> None:
    found, error = parse_rule(rule)
    assert found == []
    assert error is not None
    assert error.startswith(reason)
    assert len(error) <= 160


def test_a_failed_rule_leaves_nothing_behind() -> None:
    columns = ConditionColumns()
    counts, errors = columns.extend(
        [{"and": [A, B]}, {"and": [C, leaf("x", {"deep": 1}), 5]}, {"or": [D]}, None], 10
    )
    assert counts == [2, None, 1, 0]
    assert [errors[0], errors[2], errors[3]] == [None, None, None]
    assert errors[1] == "and[2]: expected a group or a leaf, got a number"
    got = columns.columns()
    assert list(got["owner"]) == [10, 10, 12]
    assert list(got["condition_index"]) == [0, 1, 0]
    assert got["field"] == ["a", "b", "d"]
    assert list(got["depth"]) == [1, 1, 1]
    assert got["group_op"].to_pylist() == ["and", "and", "or"]
    assert got["extra"] == [None, None, None]


def test_extra_of_a_failed_rule_is_dropped_too() -> None:
    columns = ConditionColumns()
    columns.extend([{"and": [{**A, "note": "x"}, 1]}, {"and": [{**B, "note": "y"}]}])
    assert columns.columns()["extra"] == ['{"note":"y"}']


def test_clear_starts_a_new_chunk() -> None:
    columns = ConditionColumns()
    columns.extend([{"and": [A, B]}])
    columns.clear()
    columns.extend([{"or": [C]}], 5)
    got = columns.columns()
    assert len(columns) == 1
    assert list(got["owner"]) == [5]
    assert got["path"] == ["or[0]"]


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
) | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
leaves = st.fixed_dictionaries(
    {"field": st.text(max_size=5), "operator": st.sampled_from(["eq", "in"]), "value": json_values}
)
rule_like = st.recursive(
    leaves,
    lambda inner: (
        st.builds(lambda xs: {"and": xs}, st.lists(inner, max_size=4))
        | st.builds(lambda xs: {"or": xs}, st.lists(inner, max_size=4))
        | st.builds(lambda x: {"not": x}, inner | st.lists(inner, max_size=3))
    ),
    max_leaves=15,
)
any_rule = (
    rule_like
    | json_values
    | st.recursive(
        rule_like | json_values | st.floats(),
        lambda inner: st.dictionaries(
            st.sampled_from(["and", "or", "not", "field", "x"]),
            inner | st.lists(inner, max_size=3),
            max_size=3,
        ),
        max_leaves=10,
    )
)


def reference(
    node: Any, path: str = "", depth: int = 0, op: str | None = None, neg: bool = False
) -> list[tuple[str, int, str | None, bool]]:
    """The contract's definitions, written the obvious (recursive) way, for well-formed rules."""
    if len(node) == 1 and next(iter(node)) in ("and", "or", "not"):
        ((key, child),) = node.items()
        prefix = f"{path}.{key}" if path else key
        if key == "not" and isinstance(child, dict):
            return reference(child, prefix, depth + 1, op, not neg)
        found = []
        for i, item in enumerate(child):
            if key == "not":
                found += reference(item, f"{prefix}[{i}]", depth + 1, op, not neg)
            else:
                found += reference(item, f"{prefix}[{i}]", depth + 1, key, neg)
        return found
    return [(path, depth, op, neg)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_rule, st.booleans())
def test_any_json_value_parses_or_sets_an_error(rule: Any, as_text: bool) -> None:
    given_rule = json.dumps(rule) if as_text else rule
    found, error = parse_rule(given_rule)
    assert error is None or (isinstance(error, str) and error and found == [])
    for c in found:
        assert c.value_type in ("string", "number", "boolean", "null", "array", "object", None)
        assert (c.value is None) == (c.value_type in ("null", None))


@settings(max_examples=200, deadline=None)
@given(rule_like, st.booleans())
def test_well_formed_rules_match_the_contract(rule: Any, as_text: bool) -> None:
    found, error = parse_rule(json.dumps(rule) if as_text else rule)
    assert error is None
    assert [(c.path, c.depth, c.group_op, c.negated) for c in found] == reference(rule)


# ---------------------------------------------------------------------------------------------
# numbers keep their digits (orjson reads an integer past 64 bits as a float)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text", "value_type"),
    [
        ("18446744073709551616", "18446744073709551616", "number"),
        ("-9223372036854775809", "-9223372036854775809", "number"),
        ("1e400", "1e400", "number"),
        ("9" * 400, "9" * 400, "number"),
        ("[1,18446744073709551616]", "[1,18446744073709551616]", "array"),
        ('{"n":-9223372036854775809}', '{"n":-9223372036854775809}', "object"),
        ("[1e400]", "[1e400]", "array"),
        ("1e19", "1e+19", "number"),  # a float stays the float it is
        ("9223372036854775807", "9223372036854775807", "number"),
    ],
    ids=[
        "2**64",
        "int64-min-minus-1",
        "1e400",
        "400-digits",
        "in-an-array",
        "in-an-object",
        "1e400-in-an-array",
        "big-float",
        "int64-max",
    ],
)
def test_numbers_in_a_rule_value_keep_their_digits(value: str, text: str, value_type: str) -> None:
    rule = '{"or":[{"field":"a","operator":"eq","value":"/"},'
    rule += '{"field":"x","operator":"eq","value":' + value + "}]}"
    found, error = parse_rule(rule)
    assert error is None
    assert (found[1].value, found[1].value_type) == (text, value_type)
    assert found[0].value == "/"


def test_numbers_in_a_leafs_other_keys_keep_their_digits() -> None:
    rule = '{"field":"x","operator":"eq","value":1,"max":18446744073709551616}'
    ((c,), error) = parse_rule(rule)
    assert error is None
    assert (c.value, c.extra) == ("1", '{"max":18446744073709551616}')


def test_a_big_integer_in_a_parsed_rule_object_keeps_its_digits() -> None:
    ((c,), error) = parse_rule({"and": [leaf("x", 2**70)]})
    assert error is None
    assert c.value == str(2**70)


def test_a_rule_with_a_big_integer_and_a_lone_surrogate_is_still_a_rule_error() -> None:
    rule = '{"and":[{"field":"x","operator":"eq","value":[18446744073709551616,"\\ud800"]}]}'
    found, error = parse_rule(rule)
    assert found == []
    assert error is not None
    assert "surrogate" in error


def test_rules_read_again_exactly_keep_their_place_among_the_others() -> None:
    big = '{"and":[{"field":"b","operator":"eq","value":18446744073709551616}]}'
    columns = ConditionColumns()
    counts, errors = columns.extend([json.dumps({"and": [A]}), big, json.dumps({"or": [C, D]})])
    assert (counts, errors) == ([1, 1, 2], [None, None, None])
    got = columns.columns()
    assert list(got["owner"]) == [0, 1, 2, 2]
    assert got["value"] == ["v", "18446744073709551616", "v", "v"]
    assert got["path"] == ["and[0]", "and[0]", "or[0]", "or[1]"]


big_values = st.recursive(
    st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(big_values, min_size=1, max_size=4))
def test_rule_values_are_exact_json_of_what_was_sent(values: list[Any]) -> None:
    """Whatever the numbers (integers of any size), each value reads back as what was sent."""
    rule = json.dumps({"and": [leaf(f"f{i}", v) for i, v in enumerate(values)]})
    found, error = parse_rule(rule)
    assert error is None
    for c, value in zip(found, values, strict=True):
        assert c.value == value if isinstance(value, str) else json.loads(c.value) == value
