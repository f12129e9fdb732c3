"""The declared schemas are the one truth: the README's tables and the public API match them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import audframe as af
from audframe._schema import arrow_column, arrow_to_pandas, markdown
from audframe.sources import tables

TABLES = tables()

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(TABLES), ids=sorted(TABLES))
def test_readme_column_table_matches_the_schema(name):
    assert markdown(TABLES[name]) in README, f"README's {name} table differs from its schema.py"


@pytest.mark.parametrize("name", sorted(TABLES), ids=sorted(TABLES))
def test_empty_frame_has_the_declared_dtypes(name):
    table = TABLES[name]
    df = table.empty()
    assert list(df.columns) == table.names
    assert {c: str(t) for c, t in df.dtypes.items()} == {c: str(t) for c, t in table.dtypes.items()}


def test_public_api_is_sorted_and_complete():
    assert af.__all__ == sorted(af.__all__)
    contract = {
        "load_thrive_audiences",
        "load_unless_audiences",
        "normalize_thrive",
        "normalize_unless",
        "to_parquet",
        "read_lake",
        "audit",
        "diff",
        "run_fleet",
        "AudframeError",
        "UnlessAudiences",
    }
    assert contract <= set(af.__all__)
    assert all(hasattr(af, name) for name in af.__all__)


def test_a_frames_arrow_backed_column_is_taken_back_without_a_copy():
    table = pa.table({"id": pa.array(["a", "bc", None], pa.large_string())})
    column = arrow_column(arrow_to_pandas(table)["id"])
    # The very bytes the frame holds, not a column rebuilt value by value.
    assert (
        column.chunks[0].buffers()[2].address == table.column("id").chunks[0].buffers()[2].address
    )
    assert column.to_pylist() == ["a", "bc", None]
    assert arrow_column(pd.Series([1, None], dtype="Int64")).to_pylist() == [1, None]
