"""The Parquet lake: layout, replace semantics, crash safety, engines and S3 (moto server)."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import signal
import socket
import subprocess
import sys
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from audframe import UnlessAudiences
from audframe.errors import InputError
from audframe.lake import list_snapshots, local, read_lake, to_parquet
from audframe.sources import tables as registered_tables
from audframe.sources.thrive.schema import AUDIENCES as THRIVE_AUDIENCES
from audframe.sources.unless.schema import AUDIENCES as UNLESS_AUDIENCES
from audframe.sources.unless.schema import CONDITIONS as UNLESS_CONDITIONS
from audframe.sources.unless.schema import TAGS as UNLESS_TAGS
from audframe.sources.unless.schema import VARIANTS as UNLESS_VARIANTS

TABLES = registered_tables()
D1, D2 = dt.date(2026, 11, 22), dt.date(2026, 11, 23)
TENANT_A, TENANT_B = "eu-west-2_AbcdEfghI", "eu-west-2_Zyxwvutsr"
THRIVE_GLOB = "thrive/audiences/**/*.parquet"


def thrive(tenant: str, fetched_at: str, n: int, *, seed: int = 0, **attrs: Any) -> pd.DataFrame:
    """A Thrive frame of ``n`` rows whose timestamps carry milliseconds."""
    base = pd.Timestamp("2024-03-01T08:00:00Z") + pd.Timedelta(days=seed)
    stamps = [(base + pd.Timedelta(milliseconds=1234 * i + 7)).to_pydatetime() for i in range(n)]
    ids = [f"{seed:04x}{i:020x}" for i in range(n)]
    df = THRIVE_AUDIENCES.frame(
        {
            "id": ids,
            "name": [f"audience {i}" if i % 3 else None for i in range(n)],
            "reference": [f"ref-{seed}-{i}" for i in range(n)],
            "api_controlled": [None if i % 4 == 0 else i % 2 == 0 for i in range(n)],
            "category": ["structure" if i == 0 else "audience" for i in range(n)],
            "type": ["manual" if i % 2 else "smart" for i in range(n)],
            "parent_id": [None if i == 0 else ids[0] for i in range(n)],
            "parent_name": [None if i == 0 else "root" for i in range(n)],
            "parent_reference": [None if i == 0 else f"ref-{seed}-0" for i in range(n)],
            "structure_id": [ids[0]] * n,
            "created_at": [None if i == 1 else s for i, s in enumerate(stamps)],
            "updated_at": stamps,
            "extra": [None if i % 2 else '{"colour":"red"}' for i in range(n)],
        }
    )
    df.attrs = {"source": "thrive", "fetched_at": fetched_at, "tenant_id": tenant, **attrs}
    df.attrs.setdefault("total_results", n)
    return df


def unless(fetched_at: str, sites: dict[str, int]) -> UnlessAudiences:
    """An Unless load: ``sites`` maps each website to its number of audiences (0 allowed)."""
    rows = [(w, f"rule-{w}-{i}") for w, n in sites.items() for i in range(n)]
    n = len(rows)
    stamp = pd.Timestamp("2025-01-02T03:04:05.678Z").to_pydatetime()
    audiences = UNLESS_AUDIENCES.frame(
        {
            "account_id": ["acct-1"] * n,
            "website_id": [w for w, _ in rows],
            "rule_id": [r for _, r in rows],
            "name": [f"aud {r}" for _, r in rows],
            "state": ["live"] * n,
            "prio": list(range(n)),
            "disabled": [False] * n,
            "read_only": [None] * n,
            "exclusive": [True] * n,
            "is_component": [False] * n,
            "web_page_path": [None] * n,
            "duration": [30] * n,
            "duration_type": ["days"] * n,
            "start_date": [stamp] * n,
            "created_date": [stamp] * n,
            "updated_date": [None] * n,
            "rule": ['{"field":"url"}'] * n,
            "rule_error": [None] * n,
            "n_variants": [2] * n,
            "n_conditions": [1] * n,
            "extra": [None] * n,
        }
    )
    variants = UNLESS_VARIANTS.frame(
        {
            "website_id": [w for w, _ in rows for _ in range(2)],
            "rule_id": [r for _, r in rows for _ in range(2)],
            "position": [p for _ in rows for p in range(2)],
            "variant_id": [f"{r}-v{p}" for _, r in rows for p in range(2)],
            "variant_name": [None, "B"] * n,
            "weight": [50.5, 49.5] * n,
        }
    )
    conditions = UNLESS_CONDITIONS.frame(
        {
            "website_id": [w for w, _ in rows],
            "rule_id": [r for _, r in rows],
            "condition_index": [0] * n,
            "path": [""] * n,
            "depth": [0] * n,
            "group_op": [None] * n,
            "negated": [False] * n,
            "field": ["url"] * n,
            "operator": [None] * n,
            "value": [None] * n,
            "value_type": ["null"] * n,
            "extra": [None] * n,
        }
    )
    tags = UNLESS_TAGS.frame({"website_id": [], "rule_id": [], "tag": []})
    return UnlessAudiences(
        audiences,
        variants,
        conditions,
        tags,
        attrs={
            "source": "unless",
            "fetched_at": fetched_at,
            "website_ids": list(sites),
            "account_id": "acct-1",
        },
    )


def thrive_file(root: Path, tenant: str, day: dt.date) -> Path:
    return root / f"thrive/audiences/tenant_id={tenant}/snapshot_date={day}/part-0.parquet"


def expected(df: pd.DataFrame) -> pd.DataFrame:
    """What read_lake gives back for ``df``'s columns: the same frame, fresh index."""
    return df.reset_index(drop=True)


@pytest.fixture
def two_days(tmp_path: Path) -> dict[str, Any]:
    """Two tenants, two days, and a re-run of tenant A's second day."""
    first = {
        (TENANT_A, D1): thrive(TENANT_A, "2026-11-22T06:00:00.001Z", 3, seed=1),
        (TENANT_A, D2): thrive(TENANT_A, "2026-11-23T06:00:00.002Z", 4, seed=2),
        (TENANT_B, D1): thrive(TENANT_B, "2026-11-22T07:00:00.003Z", 2, seed=3),
        (TENANT_B, D2): thrive(TENANT_B, "2026-11-23T07:00:00.004Z", 5, seed=4),
    }
    for df in first.values():
        to_parquet(df, tmp_path)
    untouched = {
        k: os.stat(thrive_file(tmp_path, *k)).st_mtime_ns for k in first if k != (TENANT_A, D2)
    }
    rerun = thrive(TENANT_A, "2026-11-23T18:30:00.999Z", 6, seed=5)
    paths = to_parquet(rerun, str(tmp_path), snapshot_date="2026-11-23")
    final = {**first, (TENANT_A, D2): rerun}
    return {"root": tmp_path, "frames": final, "paths": paths, "untouched": untouched}


def test_rerun_replaces_only_its_partition(two_days: dict[str, Any]) -> None:
    root: Path = two_days["root"]
    assert two_days["paths"] == [str(thrive_file(root, TENANT_A, D2))]
    for key, mtime in two_days["untouched"].items():
        assert os.stat(thrive_file(root, *key)).st_mtime_ns == mtime, key
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == sorted(
        thrive_file(root, t, d).relative_to(root).as_posix() for t, d in two_days["frames"]
    )


def test_read_lake_round_trip(two_days: dict[str, Any]) -> None:
    root, frames = two_days["root"], two_days["frames"]
    back = read_lake(root, "thrive/audiences")
    assert list(back.columns) == [
        *THRIVE_AUDIENCES.names,
        "snapshot_at",
        "tenant_id",
        "snapshot_date",
    ]
    counts = back.groupby(["tenant_id", "snapshot_date"]).size().to_dict()
    assert counts == {k: len(v) for k, v in frames.items()}
    for (tenant, day), df in frames.items():
        part = back[(back["tenant_id"] == tenant) & (back["snapshot_date"] == day)]
        pd.testing.assert_frame_equal(part[list(df.columns)].reset_index(drop=True), expected(df))
        fetched = pd.Timestamp(df.attrs["fetched_at"])
        assert (part["snapshot_at"] == fetched).all()
    assert str(back["snapshot_at"].dtype) == "datetime64[ms, UTC]"
    assert back["snapshot_date"].dtype == pd.ArrowDtype(pa.date32())
    assert back["tenant_id"].dtype == pd.StringDtype("pyarrow")


def test_read_lake_filters_prune_partitions(two_days: dict[str, Any]) -> None:
    root, frames = two_days["root"], two_days["frames"]
    one = read_lake(root, "thrive/audiences", snapshot_date=D1, tenant_id=TENANT_B)
    pd.testing.assert_frame_equal(one[THRIVE_AUDIENCES.names], expected(frames[(TENANT_B, D1)]))
    assert len(read_lake(root, "thrive/audiences", since="2026-11-23")) == 6 + 5
    assert len(read_lake(root, "thrive/audiences", until=D1, tenant_id=[TENANT_A])) == 3
    assert read_lake(root, "thrive/audiences", since=D2, until=D1).empty
    snaps = list_snapshots(root, "thrive/audiences")
    assert list(snaps.columns) == ["tenant_id", "snapshot_date", "rows", "path", "snapshot_at"]
    assert snaps[["tenant_id", "snapshot_date", "rows"]].values.tolist() == [
        [TENANT_A, D1, 3],
        [TENANT_A, D2, 6],
        [TENANT_B, D1, 2],
        [TENANT_B, D2, 5],
    ]
    assert str(snaps["snapshot_at"].dtype) == "datetime64[ms, UTC]"
    assert snaps["snapshot_at"].tolist() == [
        pd.Timestamp(frames[(t, d)].attrs["fetched_at"]) for t, d in sorted(frames)
    ]


def test_pyarrow_dataset_reads_the_lake(two_days: dict[str, Any]) -> None:
    root, frames = two_days["root"], two_days["frames"]
    # pyarrow infers hive values as strings or ints; the schema makes the day a date.
    keys = pa.schema([("tenant_id", pa.string()), ("snapshot_date", pa.date32())])
    partitioning = ds.partitioning(keys, flavor="hive")
    dataset = ds.dataset(root / "thrive/audiences", format="parquet", partitioning=partitioning)
    table = dataset.to_table()
    assert table.schema.field("created_at").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("snapshot_at").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("name").type == pa.string()
    assert table.schema.field("api_controlled").type == pa.bool_()
    counts = table.group_by(["tenant_id", "snapshot_date"]).aggregate([([], "count_all")])
    got = {
        (t, d): c for t, d, c in zip(*(counts.column(i).to_pylist() for i in range(3)), strict=True)
    }
    assert got == {(t, d): len(df) for (t, d), df in frames.items()}
    rerun = frames[(TENANT_A, D2)]
    part = table.filter(
        (pa.compute.field("tenant_id") == TENANT_A) & (pa.compute.field("snapshot_date") == D2)
    )
    assert part.column("updated_at").to_pylist() == list(rerun["updated_at"])


def test_duckdb_reads_the_lake(two_days: dict[str, Any]) -> None:
    root, frames = two_days["root"], two_days["frames"]
    con = duckdb.connect()
    source = f"read_parquet('{root}/{THRIVE_GLOB}', hive_partitioning=true)"
    rows = con.sql(
        f"SELECT tenant_id, snapshot_date, count(*) FROM {source} GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert rows == sorted((t, d, len(df)) for (t, d), df in frames.items())
    types = {row[0]: row[1] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["snapshot_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["name"] == "VARCHAR"
    assert types["snapshot_date"] == "DATE"
    rerun = frames[(TENANT_A, D2)]
    millis = con.sql(
        f"SELECT epoch_ms(updated_at), epoch_ms(snapshot_at) FROM {source} "
        f"WHERE tenant_id = '{TENANT_A}' AND snapshot_date = DATE '{D2}' ORDER BY id"
    ).fetchall()
    want = rerun.sort_values("id")["updated_at"].astype("int64").tolist()
    assert [m for m, _ in millis] == want
    assert {s for _, s in millis} == {pd.Timestamp(rerun.attrs["fetched_at"]).value // 10**6}


def test_polars_reads_the_lake(two_days: dict[str, Any]) -> None:
    root, frames = two_days["root"], two_days["frames"]
    frame = pl.read_parquet(f"{root}/{THRIVE_GLOB}", hive_partitioning=True)
    assert frame.schema["created_at"] == pl.Datetime("ms", "UTC")
    assert frame.schema["name"] == pl.String
    assert frame.schema["snapshot_date"] == pl.Date
    counts = frame.group_by("tenant_id", "snapshot_date").len().rows()
    assert sorted(counts) == sorted((t, d, len(df)) for (t, d), df in frames.items())
    rerun = frames[(TENANT_A, D2)]
    part = frame.filter(pl.col("tenant_id") == TENANT_A, pl.col("snapshot_date") == D2)
    assert part["updated_at"].to_list() == [t.to_pydatetime() for t in rerun["updated_at"]]


def test_parquet_schema_and_metadata(tmp_path: Path) -> None:
    df = thrive(TENANT_A, "2026-11-23T14:00:00.123Z", 2, api_secret="hunter2-SECRET")
    (path,) = to_parquet(df, tmp_path)
    parquet = pq.ParquetFile(path)
    for column in parquet.schema:
        assert "nanos" not in str(column.logical_type).lower()
        if column.name.endswith(("_at", "_date")):
            assert "milliseconds" in str(column.logical_type), column.name
    arrow = parquet.schema_arrow
    assert "tenant_id" not in arrow.names
    assert "snapshot_date" not in arrow.names
    assert not any(pa.types.is_large_string(t) or pa.types.is_dictionary(t) for t in arrow.types)
    meta = {k.decode(): v.decode() for k, v in parquet.metadata.metadata.items()}
    assert meta["audframe.source"] == "thrive"
    assert meta["audframe.fetched_at"] == "2026-11-23T14:00:00.123Z"
    assert meta["audframe.snapshot_date"] == "2026-11-23"
    assert meta["audframe.version"]
    assert b"hunter2-SECRET" not in Path(path).read_bytes()


def test_extra_columns_and_schema_drift(tmp_path: Path) -> None:
    old = thrive(TENANT_A, "2026-11-22T10:00:00Z", 2)
    new = thrive(TENANT_A, "2026-11-23T10:00:00Z", 3, seed=9)
    new["score"] = pd.array([1, None, 3], dtype="Int64")
    new["seen"] = pd.Series(pd.to_datetime(["2026-01-01T00:00:00.123456789Z"] * 3))
    to_parquet(old, tmp_path)
    to_parquet(new, tmp_path)
    types = pq.read_schema(thrive_file(tmp_path, TENANT_A, D2))
    assert types.field("seen").type == pa.timestamp("ms", tz="UTC")
    back = read_lake(tmp_path, "thrive/audiences")
    assert back["score"].tolist()[:2] == [pd.NA, pd.NA]
    assert str(back["seen"].dtype) == "datetime64[ms, UTC]"
    today = back[back["snapshot_date"] == D2].reset_index(drop=True)
    pd.testing.assert_series_equal(today["score"], new["score"])


def test_file_older_than_a_column_reads_as_null(tmp_path: Path) -> None:
    # A file written before `extra` joined the conditions table (or by another tool).
    load = unless("2026-11-23T09:00:00Z", {"site-1": 2})
    (path,) = [p for p in to_parquet(load, tmp_path) if "/conditions/" in p]
    pq.write_table(pq.read_table(path).drop_columns(["extra"]), path)
    back = read_lake(tmp_path, "unless/conditions")
    assert list(back.columns) == [*UNLESS_CONDITIONS.names, "snapshot_at", "snapshot_date"]
    assert back["extra"].isna().all()
    assert back["extra"].dtype == pd.StringDtype("pyarrow")


def test_files_of_either_string_width_read_as_one(two_days: dict[str, Any]) -> None:
    # Another tool (Polars, a pyarrow script) may write text with 64-bit offsets; read_lake
    # widens audframe's own files to that (pandas' storage) on read, so the two join.
    root, frames = two_days["root"], two_days["frames"]
    path = thrive_file(root, TENANT_B, D1)
    table = pq.read_table(path)
    wide = pa.schema(
        [f.with_type(pa.large_string()) if pa.types.is_string(f.type) else f for f in table.schema],
        metadata=table.schema.metadata,
    )
    pq.write_table(table.cast(wide), path)
    assert pa.types.is_large_string(pq.read_schema(path).field("name").type)
    back = read_lake(root, "thrive/audiences")
    assert len(back) == sum(len(df) for df in frames.values())
    assert back["name"].dtype == pd.StringDtype("pyarrow")
    part = back[(back["tenant_id"] == TENANT_B) & (back["snapshot_date"] == D1)]
    df = frames[(TENANT_B, D1)]
    pd.testing.assert_frame_equal(part[list(df.columns)].reset_index(drop=True), expected(df))


def test_a_frame_read_back_can_be_written_again(two_days: dict[str, Any]) -> None:
    root: Path = two_days["root"]
    back = read_lake(root, "thrive/audiences", tenant_id=TENANT_B, snapshot_date=D2)
    back.attrs = {
        "source": "thrive",
        "tenant_id": TENANT_B,
        "fetched_at": "2026-11-23T07:00:00.004Z",
    }
    to_parquet(back, root)
    again = read_lake(root, "thrive/audiences", tenant_id=TENANT_B, snapshot_date=D2)
    pd.testing.assert_frame_equal(again, back)


def tiled(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """``frame``'s rows repeated to ``n`` rows (cheaply: a test of the lake, not of the helper)."""
    out = frame.iloc[np.arange(n) % len(frame)].reset_index(drop=True)
    out.attrs = dict(frame.attrs)
    return out


@pytest.mark.parametrize("source", ["thrive", "unless"])
def test_writing_makes_no_python_object_per_row(tmp_path: Path, source: str) -> None:
    """``snapshot_at`` and every other column go to Arrow without a Python object per row
    (the old ``[snapshot_at] * n`` list cost 8 bytes a row, and converting it most of a write).
    Python's heap may grow by the file's bytes (a load is serialised before it is written)."""
    n = 300_000
    if source == "thrive":
        load: Any = tiled(thrive(TENANT_A, "2026-11-23T06:00:00.001Z", 4), n)
    else:  # two websites' rows interleaved: each partition's rows are picked out of the whole
        tables = unless("2026-11-23T06:00:00.001Z", {"site-1": 2, "site-2": 2}).tables()
        load = {name: tiled(df, n) for name, df in tables.items() if len(df)}
        for df in load.values():
            df.attrs = {"fetched_at": "2026-11-23T06:00:00.001Z"}
    tracemalloc.start()
    try:
        paths = to_parquet(load, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    files = sum(Path(p).stat().st_size for p in paths)
    assert peak - files < n, f"{(peak - files) / n:.1f} bytes of Python heap per row"


PEAK = """
import sys
import pyarrow as pa
import pyarrow.parquet as pq
from audframe import read_lake
root, table, reader = sys.argv[1:]
if reader == "audframe":
    frame = read_lake(root, table)
else:
    frame = pq.read_table(f"{root}/{table}").to_pandas()
print(pa.default_memory_pool().max_memory())
"""


def test_read_lake_holds_the_rows_once(tmp_path: Path) -> None:
    """read_lake hands pandas the files' own columns: its Arrow memory peaks where
    ``pq.read_table(...).to_pandas()``'s does, not a second copy of every column higher
    (``combine_chunks`` took 1.7 times as much for three partitions)."""
    for seed, tenant in enumerate(("eu-west-2_One", "eu-west-2_Two", "eu-west-2_Three")):
        to_parquet(thrive(tenant, "2026-11-23T06:00:00.001Z", 20_000, seed=seed), tmp_path)

    def peak(reader: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", PEAK, str(tmp_path), "thrive/audiences", reader],
            cwd=Path(__file__).parents[1],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout)

    ours, pyarrow = peak("audframe"), peak("pyarrow")
    assert ours <= 1.25 * pyarrow, f"read_lake peaked at {ours / pyarrow:.2f}x pyarrow's read"


def test_unless_partitions_per_website(tmp_path: Path) -> None:
    load = unless("2026-11-23T09:00:00.500Z", {"site-1": 2, "site-2": 0})
    paths = to_parquet(load, tmp_path)
    assert len(paths) == 8  # four tables x two websites, empty tables included
    for table, df in load.tables().items():
        back = read_lake(tmp_path, table)
        spec = TABLES[table]
        assert list(back.columns) == [*spec.names, "snapshot_at", "snapshot_date"]
        pd.testing.assert_frame_equal(back[spec.names], expected(df))
        for site in ("site-1", "site-2"):
            file = tmp_path / table / f"website_id={site}/snapshot_date=2026-11-23/part-0.parquet"
            schema = pq.read_schema(file)
            assert schema.names == [*(c for c in spec.names if c != "website_id"), "snapshot_at"]
    snaps = list_snapshots(tmp_path, "unless/variants")
    assert snaps[["website_id", "rows"]].values.tolist() == [["site-1", 4], ["site-2", 0]]
    assert len(read_lake(tmp_path, "unless/variants", website_id="site-2")) == 0


def test_dict_input_and_date_from_fetched_at(tmp_path: Path) -> None:
    # 23:30 at UTC-2 is the next day in UTC.
    df = thrive(TENANT_A, "2026-11-23T23:30:00-02:00", 1)
    to_parquet({"thrive/audiences": df}, tmp_path)
    assert thrive_file(tmp_path, TENANT_A, dt.date(2026, 11, 24)).is_file()


@pytest.mark.parametrize(
    "fault", [RuntimeError("disk full"), KeyboardInterrupt()], ids=["error", "interrupt"]
)
def test_crash_mid_write_keeps_old_partitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: BaseException
) -> None:
    old = unless("2026-11-23T09:00:00Z", {"site-1": 1, "site-2": 1})
    to_parquet(old, tmp_path)
    before = {t: read_lake(tmp_path, t) for t in old.tables()}
    write = local._write_synced
    calls: list[Path] = []

    def crash_after_first(path: Path, data: bytes) -> None:
        if calls:
            raise fault
        calls.append(path)
        write(path, data)

    monkeypatch.setattr(local, "_write_synced", crash_after_first)
    new = unless("2026-11-23T15:00:00Z", {"site-1": 3, "site-2": 2, "site-3": 1})
    with pytest.raises(type(fault)):
        to_parquet(new, tmp_path)
    assert calls  # the first file was written before the fault
    for table, frame in before.items():
        pd.testing.assert_frame_equal(read_lake(tmp_path, table), frame)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert leftovers == []
    assert not list(tmp_path.rglob("website_id=site-3"))  # no half-made partition either


KILLER = """
import os, pickle, signal, sys
from audframe import lake
from audframe.lake import local

write = local._write_synced
def killed_after_first(path, data):
    if list(path.parent.iterdir()):
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no cleanup: a real crash
    write(path, data)
local._write_synced = killed_after_first
with open(sys.argv[1], "rb") as f:
    lake.to_parquet(pickle.load(f), sys.argv[2])
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_writer_leaves_old_partitions_and_next_run_cleans(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    old = unless("2026-11-23T09:00:00Z", {"site-1": 1, "site-2": 1})
    to_parquet(old, root)
    before = {t: read_lake(root, t) for t in old.tables()}
    new = unless("2026-11-23T15:00:00Z", {"site-1": 3, "site-2": 2})
    (tmp_path / "load.pkl").write_bytes(pickle.dumps(new))
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path / "load.pkl"), str(root)],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    staging = root / "unless/audiences/.audframe-staging"
    assert len(list(staging.iterdir())) == 1  # the killed writer's first file, never renamed
    for table, frame in before.items():
        pd.testing.assert_frame_equal(read_lake(root, table), frame)
    to_parquet(new, root)
    assert list(staging.parent.glob(".audframe-staging/*")) == []
    assert len(read_lake(root, "unless/audiences")) == 5


def test_stale_temp_files_are_cleaned_on_next_run(tmp_path: Path) -> None:
    to_parquet(thrive(TENANT_A, "2026-11-22T06:00:00Z", 1), tmp_path)
    staging = tmp_path / "thrive/audiences/.audframe-staging"
    staging.mkdir()
    host = local._temp_name().split("-")[0]
    dead_pid = next(p for p in range(4_000_000, 4_100_000) if not local._alive(p))
    killed = staging / f"{host}-{dead_pid}-{uuid.uuid4().hex}.tmp"  # killed with SIGKILL
    ancient = staging / f"otherhost-1-{uuid.uuid4().hex}.tmp"  # another machine's, an hour old
    live = staging / f"otherhost-2-{uuid.uuid4().hex}.tmp"  # another machine's, still writing
    for path in (killed, ancient, live):
        path.write_bytes(b"PAR1 half a file")
    os.utime(ancient, (0, 0))
    # Not audframe's temp names, or not regular files: never its to delete, however old.
    kept = staging / "notes.tmp"
    kept.write_bytes(b"mine")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_bytes(b"not in the lake")
    link = staging / f"{host}-{dead_pid}-{uuid.uuid4().hex}.tmp"
    link.symlink_to(outside)
    for path in (kept, outside):
        os.utime(path, (0, 0))
    to_parquet(thrive(TENANT_B, "2026-11-23T06:00:00Z", 1), tmp_path)
    assert sorted(p.name for p in staging.iterdir()) == sorted([live.name, kept.name, link.name])
    assert outside.read_bytes() == b"not in the lake"
    assert len(read_lake(tmp_path, "thrive/audiences")) == 2


def test_rerun_removes_other_files_of_the_partition(tmp_path: Path) -> None:
    df = thrive(TENANT_A, "2026-11-23T06:00:00Z", 2)
    to_parquet(df, tmp_path)
    stray = thrive_file(tmp_path, TENANT_A, D2).with_name("part-1.parquet")
    stray.write_bytes(thrive_file(tmp_path, TENANT_A, D2).read_bytes())
    assert len(read_lake(tmp_path, "thrive/audiences")) == 4
    to_parquet(df, tmp_path)
    assert not stray.exists()
    assert len(read_lake(tmp_path, "thrive/audiences")) == 2


def test_empty_and_missing_lake(tmp_path: Path) -> None:
    empty = read_lake(tmp_path, "unless/conditions")
    assert empty.empty
    assert list(empty.columns) == [*UNLESS_CONDITIONS.names, "snapshot_at", "snapshot_date"]
    assert empty.dtypes.to_dict() == read_lake_dtypes(UNLESS_CONDITIONS.dtypes)
    assert list_snapshots(tmp_path, "thrive/audiences").empty
    with pytest.raises(InputError, match="no lake at"):
        read_lake(tmp_path / "nope", "thrive/audiences")


def read_lake_dtypes(declared: dict[str, Any]) -> dict[str, Any]:
    return {
        **declared,
        "snapshot_at": pd.DatetimeTZDtype("ms", "UTC"),
        "snapshot_date": pd.ArrowDtype(pa.date32()),
    }


@pytest.mark.parametrize(
    "tenant",
    ["a/b", "a\\b", "..", "x..y", "a=b", "tab\there", "nul\x00", "", " padded", 42],
    ids=[
        "slash",
        "backslash",
        "dotdot",
        "inner-dotdot",
        "equals",
        "tab",
        "nul",
        "empty",
        "space",
        "not-a-string",
    ],
)
def test_unsafe_tenant_ids_are_refused(tmp_path: Path, tenant: Any) -> None:
    df = thrive(TENANT_A, "2026-11-23T06:00:00Z", 1)
    df.attrs["tenant_id"] = tenant
    with pytest.raises(InputError, match="cannot name a lake partition"):
        to_parquet(df, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unsafe_website_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"website_id '\.\./etc'"):
        to_parquet(unless("2026-11-23T06:00:00Z", {"../etc": 1}), tmp_path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r, df: to_parquet(df, r, snapshot_date="23/11/2026"), "'YYYY-MM-DD'"),
        (lambda r, df: to_parquet(df, r, snapshot_date="2026-02-30"), "'YYYY-MM-DD'"),
        (lambda r, df: to_parquet(df, r, compression="zip"), "'zstd'"),
        (
            lambda r, df: to_parquet(df.drop(columns=["name"]), r),
            r"lacks the column\(s\) \['name'\]",
        ),
        (lambda r, df: to_parquet({"thrive/audience": df}, r), "valid names"),
        (lambda r, df: to_parquet([df], r), "got list"),
        (lambda r, df: read_lake(r, "thrive"), "valid names: \\['thrive/audiences'"),
        (lambda r, df: read_lake(r, "thrive/audiences", since="yesterday"), "since must be"),
        (lambda r, df: read_lake(r, "thrive/audiences", website_id="w"), "filter with tenant_id"),
        (lambda r, df: to_parquet(df, r, endpoint_url="http://x"), "local path"),
    ],
    ids=[
        "date-form",
        "date-invalid",
        "compression",
        "missing-column",
        "dict-name",
        "not-a-frame",
        "table-name",
        "since",
        "wrong-filter",
        "options-local",
    ],
)
def test_bad_inputs(tmp_path: Path, call: Any, message: str) -> None:
    df = thrive(TENANT_A, "2026-11-23T06:00:00Z", 1)
    with pytest.raises(InputError, match=message):
        call(tmp_path, df)


def test_missing_tenant_id_says_what_to_do(tmp_path: Path) -> None:
    df = thrive(TENANT_A, "2026-11-23T06:00:00Z", 1)
    del df.attrs["tenant_id"]
    with pytest.raises(InputError, match="pass tenant_id in attrs"):
        to_parquet(df, tmp_path)


# --------------------------------------------------------------------------- S3 (moto server)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible server on loopback (moto's server mode), on a free port."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    name = "lake-" + request.node.name.lower().replace("_", "-")[:40]
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


def test_s3_round_trip_and_replace(s3_endpoint: str, bucket: str) -> None:
    options = {"endpoint_url": s3_endpoint}
    root = f"s3://{bucket}/lake"
    first = thrive(TENANT_A, "2026-11-23T06:00:00.111Z", 3)
    other = thrive(TENANT_B, "2026-11-23T06:00:00.222Z", 2, seed=7)
    to_parquet(other, root, storage_options=options)
    to_parquet(first, root, storage_options=options)
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    partition = f"{bucket}/lake/thrive/audiences/tenant_id={TENANT_A}/snapshot_date={D2}"
    fs.pipe_file(f"{partition}/part-1.parquet", fs.cat_file(f"{partition}/part-0.parquet"))
    rerun = thrive(TENANT_A, "2026-11-23T20:00:00.333Z", 4, seed=8)
    paths = to_parquet(rerun, root, endpoint_url=s3_endpoint)
    assert paths == [f"s3://{partition}/part-0.parquet"]
    fs.invalidate_cache()
    assert fs.ls(partition) == [f"{partition}/part-0.parquet"]

    back = read_lake(root, "thrive/audiences", storage_options=options)
    assert back.groupby("tenant_id").size().to_dict() == {TENANT_A: 4, TENANT_B: 2}
    mine = back[back["tenant_id"] == TENANT_A].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine[list(rerun.columns)], expected(rerun))
    snaps = list_snapshots(root, "thrive/audiences", storage_options=options)
    assert snaps["path"].tolist()[0] == f"s3://{partition}/part-0.parquet"


def test_s3_endpoint_from_environment(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    load = unless("2026-11-23T09:00:00Z", {"site-1": 1, "site-2": 2})
    root = f"s3://{bucket}/lake"
    assert len(to_parquet(load, root)) == 8
    back = read_lake(root, "unless/variants", website_id="site-2")
    assert len(back) == 4
    assert read_lake(root, "unless/tags").empty
    assert read_lake(f"s3://{bucket}/nothing-here", "unless/tags").empty


def test_s3_deletes_only_what_audframe_wrote(s3_endpoint: str, bucket: str) -> None:
    import s3fs

    options = {"endpoint_url": s3_endpoint}
    root = f"s3://{bucket}/lake"
    to_parquet(thrive(TENANT_A, "2026-11-23T06:00:00.111Z", 3), root, storage_options=options)
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    partition = f"{bucket}/lake/thrive/audiences/tenant_id={TENANT_A}/snapshot_date={D2}"
    old = fs.cat_file(f"{partition}/part-0.parquet")
    fs.pipe_file(f"{partition}/part-1.parquet", old)  # audframe's name: an older part
    fs.pipe_file(f"{partition}/.part-0.parquet.crc", b"crc")  # hidden: every reader skips it
    fs.pipe_file(f"{partition}/_SUCCESS", b"")
    to_parquet(thrive(TENANT_A, "2026-11-23T07:00:00.222Z", 4), root, storage_options=options)
    fs.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[1] for p in fs.find(partition)) == [
        ".part-0.parquet.crc",
        "_SUCCESS",
        "part-0.parquet",
    ]
    fs.pipe_file(f"{partition}/theirs.parquet", old)  # someone else's: refused, not deleted
    with pytest.raises(InputError, match=r"theirs\.parquet"):
        to_parquet(thrive(TENANT_A, "2026-11-23T08:00:00.333Z", 5), root, storage_options=options)
    fs.invalidate_cache()
    assert fs.cat_file(f"{partition}/theirs.parquet") == old
    snaps = list_snapshots(root, "thrive/audiences", storage_options=options)
    ours = snaps[snaps["path"].str.endswith("/part-0.parquet")]
    assert ours["snapshot_at"].tolist() == [pd.Timestamp("2026-11-23T07:00:00.222Z")]
