"""The lake against hostile disks and readers: links and foreign files under ROOT, readers racing
writers, writers killed between renames, ids no file system holds, full and read-only disks.

Everything here uses real files and real processes: a writer in a subprocess replacing partitions
while this process reads, a writer SIGKILLed between two renames, a tmpfs that is full and a bind
mount that is read-only (in a user and mount namespace, via ``unshare``, where the machine has
it).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audframe import lake
from audframe.errors import InputError, StorageError
from audframe.lake import list_snapshots, local, read_lake, to_parquet
from tests.test_lake import TENANT_A, thrive, unless

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-11-23"


def _digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links not followed) and its content's hash."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = "-> " + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# --------------------------------------------------------------------------- readers racing


WRITER = """
import pickle, sys
from pathlib import Path
from audframe import lake
from audframe.lake import local

loads = pickle.loads(Path(sys.argv[1]).read_bytes())
root, stop = sys.argv[2], Path(sys.argv[3])
done = 0
while not stop.exists():
    lake.to_parquet(loads[done % len(loads)], root)
    done += 1
    if done == 2:
        Path(sys.argv[4]).touch()  # under way: the reader may start
    if done == 25:
        Path(sys.argv[4]).write_text("25")  # replaced often enough: the reader may stop
print(done)
"""


def _loads(source: str) -> list[Any]:
    """Two loads of the same partitions, told apart by their rows and their fetched_at."""
    if source == "thrive":
        return [
            thrive(TENANT_A, f"{DAY}T06:00:00.001Z", 40, seed=1),
            thrive(TENANT_A, f"{DAY}T07:00:00.002Z", 55, seed=2),
        ]
    return [
        unless(f"{DAY}T06:00:00.001Z", {"site-1": 3}),
        unless(f"{DAY}T07:00:00.002Z", {"site-1": 5}),
    ]


@pytest.mark.parametrize("source", ["thrive", "unless"], ids=["thrive", "unless"])
def test_reads_racing_a_writer_see_whole_snapshots(tmp_path: Path, source: str) -> None:
    loads = _loads(source)
    table = "thrive/audiences" if source == "thrive" else "unless/audiences"
    key = "id" if source == "thrive" else "rule_id"
    wanted = {}
    for load in loads:
        frame = load if source == "thrive" else load.audiences
        wanted[pd.Timestamp(load.attrs["fetched_at"])] = sorted(frame[key])
    root = tmp_path / "lake"
    to_parquet(loads[0], root)
    (tmp_path / "loads.pkl").write_bytes(pickle.dumps(loads))
    stop, started = tmp_path / "stop", tmp_path / "started"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "loads.pkl"), root, stop, started],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: dict[pd.Timestamp, int] = {}
    errors: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline, "the writer never got going"
            time.sleep(0.01)
        # 600 reads at least, and on until the writer has replaced the partition 25 times: a
        # busy machine slows the writer more than the reader, and the race must be run.
        i = -1
        while (i := i + 1) < 600 or (started.read_text() != "25" and time.monotonic() < deadline):
            try:
                if i % 5 == 4:
                    snaps = list_snapshots(root, table)
                    stamp = snaps["snapshot_at"].iloc[0]
                    assert snaps["rows"].tolist() == [len(wanted[stamp])], "rows from its footer"
                    continue
                frame = read_lake(root, table)
            except Exception as exc:  # counted, not raised: the test reports them all at once
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            stamps = set(frame["snapshot_at"])
            assert len(stamps) == 1, f"read {i} mixes two snapshots"
            (stamp,) = stamps
            assert sorted(frame[key]) == wanted[stamp], f"read {i} is not a whole snapshot"
            seen[stamp] = seen.get(stamp, 0) + 1
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert not errors, Counter(e[:90] for e in errors).most_common()
    assert int(out) >= 25, "the writer replaced the partition many times meanwhile"
    assert len(seen) == 2, "both snapshots were read"


def test_a_folder_a_writer_removes_during_the_listing_is_listed_again(tmp_path, monkeypatch):
    """The race above, made certain: the listing walks into .audframe-staging, which its writer
    removes meanwhile (seen once in ~20 runs of the race test on a busy machine)."""
    import pyarrow.dataset as ds

    root = tmp_path / "lake"
    to_parquet(thrive(TENANT_A, f"{DAY}T06:00:00.001Z", 40, seed=1), root)
    real, calls = ds.dataset, []

    def dataset(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        if len(calls) == 1:
            raise FileNotFoundError(f"{args[0]}/.audframe-staging")
        return real(*args, **kwargs)

    monkeypatch.setattr(ds, "dataset", dataset)
    assert len(read_lake(root, "thrive/audiences")) == 40
    assert len(calls) == 2


# --------------------------------------------------------------------------- links and strangers


PARTITION = f"thrive/audiences/tenant_id={TENANT_A}/snapshot_date={DAY}"
# What each link replaces, below ROOT: the partition, each directory above it, and staging.
LINKED = {
    "partition": PARTITION,
    "tenant": f"thrive/audiences/tenant_id={TENANT_A}",
    "table": "thrive/audiences",
    "source": "thrive",
    "staging": "thrive/audiences/.audframe-staging",
}


def _victim(directory: Path, *, staging: bool) -> None:
    """Files audframe never wrote, where a link will point: what a careless write would delete."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "keep.txt").write_text("a user's notes")
    (directory / "sub").mkdir(exist_ok=True)
    (directory / "sub" / "deep.txt").write_text("deeper")
    if staging:  # named like the temp files of a writer long dead on this very machine
        dead = next(p for p in range(4_000_000, 4_100_000) if not local._alive(p))
        old = directory / f"{local._host()}-{dead}-{'0' * 32}.tmp"
        old.write_text("someone else's file with audframe's temp name")
        os.utime(old, (0, 0))


@pytest.mark.parametrize("where", list(LINKED), ids=list(LINKED))
def test_a_link_below_root_is_refused_and_its_target_kept(tmp_path: Path, where: str) -> None:
    root = tmp_path / "lake"
    to_parquet(thrive(TENANT_A, f"{DAY}T06:00:00Z", 3), root)
    linked = root / LINKED[where]
    target = tmp_path / "elsewhere"
    if linked.exists():
        linked.rename(target)  # the lake's own files move behind the link, beside the victim's
    below = PARTITION.removeprefix(LINKED[where]).strip("/") if where != "staging" else ""
    _victim(target / below, staging=where == "staging")
    linked.symlink_to(target, target_is_directory=True)
    before_target, before_lake = _digests(target), _digests(root)

    with pytest.raises(InputError, match="symbolic link") as info:
        to_parquet(thrive(TENANT_A, f"{DAY}T09:00:00Z", 5, seed=3), root)
    assert str(linked) in str(info.value)
    assert _digests(target) == before_target  # nothing deleted or written through the link
    assert _digests(root) == before_lake


def test_root_itself_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "mounted"
    real.mkdir()
    (tmp_path / "lake").symlink_to(real, target_is_directory=True)
    to_parquet(thrive(TENANT_A, f"{DAY}T06:00:00Z", 3), tmp_path / "lake")
    to_parquet(thrive(TENANT_A, f"{DAY}T09:00:00Z", 5, seed=3), tmp_path / "lake")
    assert len(read_lake(tmp_path / "lake", "thrive/audiences")) == 5
    assert (real / PARTITION / "part-0.parquet").is_file()


@pytest.mark.parametrize(
    "stranger",
    ["theirs.parquet", "notes.txt", "subfolder/", "part-0.parquet.bak", "part-1.parquet->"],
    ids=["parquet", "text", "folder", "backup", "link-named-like-a-part"],
)
def test_a_partition_holding_files_audframe_did_not_write_is_refused(
    tmp_path: Path, stranger: str
) -> None:
    root = tmp_path / "lake"
    to_parquet(thrive(TENANT_A, f"{DAY}T06:00:00Z", 3), root)
    partition = root / PARTITION
    name = stranger.rstrip("/").removesuffix("->")
    if stranger.endswith("/"):
        (partition / name).mkdir()
        (partition / name / "inside.parquet").write_bytes(
            (partition / "part-0.parquet").read_bytes()
        )
    elif stranger.endswith("->"):
        (tmp_path / "target.parquet").write_bytes(b"not the lake's")
        (partition / name).symlink_to(tmp_path / "target.parquet")
    else:
        (partition / name).write_bytes((partition / "part-0.parquet").read_bytes())
    before = _digests(root)
    with pytest.raises(InputError, match="did not write") as info:
        to_parquet(thrive(TENANT_A, f"{DAY}T09:00:00Z", 5, seed=3), root)
    assert name in str(info.value)
    assert str(partition) in str(info.value)
    assert _digests(root) == before


def test_every_partition_is_checked_before_any_is_written(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    to_parquet(unless(f"{DAY}T06:00:00Z", {"site-1": 1, "site-2": 1}), root)
    theirs = root / f"unless/tags/website_id=site-2/snapshot_date={DAY}/theirs.parquet"
    theirs.write_bytes(b"PAR1")
    before = _digests(root)
    with pytest.raises(InputError, match=r"theirs\.parquet"):
        to_parquet(unless(f"{DAY}T09:00:00Z", {"site-1": 2, "site-2": 2}), root)
    assert _digests(root) == before  # site-1, checked first, was not replaced either


def test_hidden_files_stay_and_older_part_files_go(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    to_parquet(thrive(TENANT_A, f"{DAY}T06:00:00Z", 3), root)
    partition = root / PARTITION
    hidden = {".part-0.parquet.crc": b"crc", "_SUCCESS": b"", ".dotdir/x": b"x"}
    for name, data in hidden.items():
        (partition / name).parent.mkdir(exist_ok=True)
        (partition / name).write_bytes(data)
    (partition / "part-1.parquet").write_bytes((partition / "part-0.parquet").read_bytes())
    to_parquet(thrive(TENANT_A, f"{DAY}T09:00:00Z", 5, seed=3), root)
    assert not (partition / "part-1.parquet").exists()  # audframe's own name: an older part
    for name, data in hidden.items():
        assert (partition / name).read_bytes() == data
    assert len(read_lake(root, "thrive/audiences")) == 5


# --------------------------------------------------------------------------- mixed snapshots


KILLED_BETWEEN_RENAMES = """
import os, pickle, signal, sys
from pathlib import Path
from audframe import lake
from audframe.lake import local

replace, renamed = os.replace, []
def rename_then_die(src, dst):
    replace(src, dst)
    renamed.append(dst)
    if len(renamed) == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no cleanup: a real crash
os.replace = rename_then_die
lake.to_parquet(pickle.loads(Path(sys.argv[1]).read_bytes()), sys.argv[2])
"""

UNLESS_TABLES = ["unless/audiences", "unless/variants", "unless/conditions", "unless/tags"]


def _named_twice(load: Any) -> Any:
    """Two audiences per website share a name: a warning for every website the audit reads."""
    load.audiences["name"] = "same name"
    return load


@pytest.fixture
def mixed_lake(tmp_path: Path) -> dict[str, Any]:
    """A lake whose site-1 snapshot a writer SIGKILLed after two of its four renames left mixed."""
    root = tmp_path / "lake"
    old = _named_twice(unless(f"{DAY}T06:00:00.000Z", {"site-1": 2, "site-2": 2}))
    to_parquet(old, root)
    new = _named_twice(unless(f"{DAY}T09:30:00.000Z", {"site-1": 3, "site-2": 4}))
    (tmp_path / "load.pkl").write_bytes(pickle.dumps(new))
    done = subprocess.run(
        [sys.executable, "-c", KILLED_BETWEEN_RENAMES, str(tmp_path / "load.pkl"), str(root), "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return {"root": root, "old": old, "new": new}


def test_a_writer_killed_between_renames_leaves_one_website_mixed(
    mixed_lake: dict[str, Any],
) -> None:
    root = mixed_lake["root"]
    stamps = {}
    for table in UNLESS_TABLES:
        snaps = list_snapshots(root, table, mixed="ignore")
        stamps[table] = dict(
            zip(snaps["website_id"], snaps["snapshot_at"].astype(str), strict=True)
        )
    # A website's tables are renamed together, audiences last: site-1 has new variants and
    # conditions beside old tags and audiences; site-2 was not reached and is whole.
    assert {t: s["site-1"][11:16] for t, s in stamps.items()} == {
        "unless/audiences": "06:00",
        "unless/variants": "09:30",
        "unless/conditions": "09:30",
        "unless/tags": "06:00",
    }
    assert {s["site-2"][11:16] for s in stamps.values()} == {"06:00"}


@pytest.mark.parametrize("table", UNLESS_TABLES, ids=[t.split("/")[1] for t in UNLESS_TABLES])
def test_every_reader_refuses_a_mixed_snapshot(mixed_lake: dict[str, Any], table: str) -> None:
    root = mixed_lake["root"]
    for read in (read_lake, list_snapshots):
        with pytest.raises(StorageError) as info:
            read(root, table)
        message = str(info.value)
        for part in ("'site-1'", DAY, "audiences, tags from the load of", "mixed='ignore'"):
            assert part in message, message
        assert "variants, conditions from the load of" in message or (
            "conditions, variants" in message
        )
    # What is whole reads as before; the mix itself, when asked for.
    assert set(read_lake(root, table, website_id="site-2")["website_id"]) <= {"site-2"}
    assert list_snapshots(root, table, mixed="ignore")["website_id"].tolist() == [
        "site-1",
        "site-2",
    ]
    assert set(read_lake(root, table, mixed="ignore")["website_id"]) <= {"site-1", "site-2"}


def test_audit_reports_a_mixed_snapshot_and_audits_the_rest(mixed_lake: dict[str, Any]) -> None:
    import audframe as af

    root = mixed_lake["root"]
    frames = {t: read_lake(root, t, mixed="ignore") for t in UNLESS_TABLES}
    findings = af.audit(frames)
    mixed = findings[findings["check"] == "unless_mixed_snapshot"]
    assert mixed["key"].tolist() == ["site-1"]
    assert mixed["severity"].tolist() == ["error"]
    assert DAY in mixed["detail"].iloc[0]
    names = findings[findings["check"] == "unless_duplicate_name"]
    assert set(names["detail"].str.extract(r"website '([^']+)'")[0]) == {"site-2"}

    from audframe.audit import audit_lake

    result = audit_lake(root)
    lake_mixed = result.findings[result.findings["check"] == "unless_mixed_snapshot"]
    assert lake_mixed["key"].tolist() == ["site-1"]
    assert "site-1" not in set(result.current["unless/audiences"]["website_id"])


def test_audit_command_reports_a_mixed_snapshot(mixed_lake: dict[str, Any]) -> None:
    root = mixed_lake["root"]
    command = [sys.executable, "-m", "audframe.cli", "audit", str(root)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr  # findings alone exit 1 only with --fail-on
    assert "unless_mixed_snapshot" in done.stdout
    assert "site-1" in done.stdout
    failed = subprocess.run(
        [*command, "--fail-on", "error"], capture_output=True, text=True, timeout=120, check=False
    )
    assert failed.returncode == 1


def test_exporting_the_website_again_mends_a_mixed_snapshot(mixed_lake: dict[str, Any]) -> None:
    root = mixed_lake["root"]
    to_parquet(mixed_lake["new"], root)
    for table in UNLESS_TABLES:
        read_lake(root, table)  # no longer refused
        assert len(set(list_snapshots(root, table)["snapshot_at"])) == 1


def test_duckdb_sees_a_mixed_snapshot_with_the_readme_query(mixed_lake: dict[str, Any]) -> None:
    import duckdb

    root = mixed_lake["root"]
    # The README's check for engines other than audframe, as printed there.
    query = (ROOT / "README.md").read_text(encoding="utf-8").split("```sql\n-- mixed")[1]
    query = query.split("```")[0].replace("lake/", f"{root}/")
    rows = duckdb.connect().sql("-- mixed" + query).fetchall()
    assert [(w, str(d)) for w, d, *_ in rows] == [("site-1", DAY)]


# Ids a path holds as they are, which a URL would escape: each table's partitions are found
# beside the one read by their folders' names, the writer's own.
ODD_IDS = ["site one", "café-ü", "a+b&c", "x.y~z"]


def _remix(root: Path, website: str, table: str = "unless/variants") -> None:
    """``website``'s ``table`` replaced by a later load's: its snapshot is mixed."""
    later = unless(f"{DAY}T09:30:00.000Z", {website: 3})
    frame = later.tables()[table]
    frame.attrs["fetched_at"] = later.attrs["fetched_at"]
    to_parquet({table: frame}, root)


@pytest.mark.parametrize("website", ODD_IDS, ids=["space", "accents", "plus-amp", "dot-tilde"])
def test_a_mixed_snapshot_of_an_id_with_odd_characters_is_refused(
    tmp_path: Path, website: str
) -> None:
    root = tmp_path / "lake"
    to_parquet(unless(f"{DAY}T06:00:00.000Z", dict.fromkeys(ODD_IDS, 2)), root)
    _remix(root, website)
    for table in UNLESS_TABLES:
        for read in (read_lake, list_snapshots):
            with pytest.raises(StorageError, match="mixed Unless snapshot") as info:
                read(root, table)
            assert repr(website) in str(info.value)
        whole = [w for w in ODD_IDS if w != website]
        assert set(read_lake(root, table, website_id=whole)["website_id"]) <= set(whole)
        read_lake(root, table, mixed="ignore")


# Where a listing of a table finds a partition's file besides its own folder: a copy another
# tool left (a folder escaped as a URL, a subfolder, a folder named by no key, the keys the
# other way round). The check reads them as every listing does.
STRAYS = {
    "escaped-id": "website_id=site%20one/snapshot_date={day}",
    "subfolder": "website_id=site one/snapshot_date={day}/older",
    "unkeyed-folder": "backup/website_id=site one/snapshot_date={day}",
    "keys-reversed": "snapshot_date={day}/website_id=site one",
}


@pytest.mark.parametrize("where", list(STRAYS.values()), ids=list(STRAYS))
def test_a_stray_copy_of_an_older_load_a_listing_reads_is_checked_too(
    tmp_path: Path, where: str
) -> None:
    old, root = tmp_path / "old", tmp_path / "lake"
    to_parquet(unless(f"{DAY}T06:00:00.000Z", {"site one": 2}), old)
    to_parquet(unless(f"{DAY}T09:30:00.000Z", {"site one": 3}), root)
    mine = f"unless/variants/website_id=site one/snapshot_date={DAY}/part-0.parquet"
    stray = root / "unless/variants" / where.format(day=DAY) / "part-0.parquet"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes((old / mine).read_bytes())
    with pytest.raises(StorageError, match="variants from the load of") as info:
        read_lake(root, "unless/tags")
    assert "'site one'" in str(info.value)
    assert (
        len(read_lake(root, "unless/tags", mixed="ignore"))
        == len(read_lake(old, "unless/tags")) * 3 // 2
    )


def test_a_broken_file_of_the_table_read_is_named_before_another_table_s(
    tmp_path: Path,
) -> None:
    """The other tables' footers are read while the table's own rows are, yet a broken file of
    the table read is the error, as when they were read after it."""
    root = tmp_path / "lake"
    to_parquet(unless(f"{DAY}T06:00:00.000Z", {"site-1": 2, "site-2": 2}), root)
    for table in ("unless/tags", "unless/variants"):
        (root / table / f"website_id=site-2/snapshot_date={DAY}/part-0.parquet").write_bytes(
            b"PAR1 not a parquet file"
        )
    with pytest.raises(StorageError, match=r"unless/tags/website_id=site-2/.*part-0\.parquet"):
        read_lake(root, "unless/tags")
    with pytest.raises(StorageError, match=r"unless/variants/website_id=site-2/"):
        read_lake(root, "unless/audiences")


# --------------------------------------------------------------------------- ids


TOO_LONG = {
    "201-ascii": "t" * 201,
    "240-ascii": "eu-west-2_" + "x" * 230,  # what gave OSError: File name too long
    "201-bytes-in-67-chars": "€" * 67,  # short in characters, long in bytes
}


@pytest.mark.parametrize("value", list(TOO_LONG.values()), ids=list(TOO_LONG))
@pytest.mark.parametrize("source", ["thrive", "unless"], ids=["tenant", "website"])
def test_an_id_longer_than_200_bytes_is_refused(tmp_path: Path, value: str, source: str) -> None:
    if source == "thrive":
        load: Any = thrive(TENANT_A, f"{DAY}T06:00:00Z", 1)
        load.attrs["tenant_id"] = value
    else:
        load = unless(f"{DAY}T06:00:00Z", {value: 1})
    with pytest.raises(InputError, match="the limit is 200 bytes"):
        to_parquet(load, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "value",
    ["__HIVE_DEFAULT_PARTITION__", "lone\ud800surrogate"],
    ids=["hive-null", "lone-surrogate"],
)
def test_ids_engines_cannot_read_back_are_refused(tmp_path: Path, value: str) -> None:
    load = thrive(TENANT_A, f"{DAY}T06:00:00Z", 1)
    load.attrs["tenant_id"] = value
    with pytest.raises(InputError, match="cannot name a lake partition"):
        to_parquet(load, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_id_of_200_bytes_is_written_and_read_back(tmp_path: Path) -> None:
    import duckdb

    longest = "€" * 66 + "ab"  # 200 bytes of UTF-8
    to_parquet(unless(f"{DAY}T06:00:00Z", {longest: 2}), tmp_path)
    assert set(read_lake(tmp_path, "unless/audiences")["website_id"]) == {longest}
    glob = f"{tmp_path}/unless/audiences/**/*.parquet"
    rows = duckdb.sql(f"SELECT DISTINCT website_id FROM read_parquet('{glob}')").fetchall()
    assert rows == [(longest,)]


@pytest.mark.parametrize(
    "ids",
    [
        {"tenant_id": "eu-west-2/../x"},
        {"tenant_id": "t" * 201},
        {"website_id": ["0c9a7e21", "site/other"]},
        {"website_id": "__HIVE_DEFAULT_PARTITION__"},
    ],
    ids=["tenant-slash", "tenant-long", "website-slash", "website-hive-null"],
)
def test_loaders_check_ids_with_the_lake_rule_before_any_request(ids: dict[str, Any]) -> None:
    import audframe as af
    from audframe.sandbox import SANDBOX_THRIVE, Sandbox

    with Sandbox() as sb:

        def load() -> Any:
            if "tenant_id" in ids:
                secret = SANDBOX_THRIVE["api_secret"]
                base = sb.thrive_base_url
                return af.load_thrive_audiences(ids["tenant_id"], secret, base_url=base)
            return af.load_unless_audiences(**{**sb.unless_kwargs(), **ids})

        with pytest.raises(InputError, match=r"cannot name a lake partition|the limit is 200"):
            load()
        assert sum(sb.request_counts.values()) == 0


# --------------------------------------------------------------------------- roots


@pytest.mark.parametrize("missing", ["fsspec", "s3fs"], ids=["no-fsspec", "no-s3fs"])
def test_an_s3_root_without_the_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed: import fails
    if missing == "s3fs":  # fsspec keeps the classes it imported once
        import importlib

        registry = importlib.import_module("fsspec.registry")._registry
        monkeypatch.delitem(registry, "s3", raising=False)
    load = thrive(TENANT_A, f"{DAY}T06:00:00Z", 1)
    for call in (
        lambda: to_parquet(load, "s3://bucket/lake"),
        lambda: read_lake("s3://bucket/lake", "thrive/audiences"),
        lambda: lake.check_root("s3://bucket/lake"),
    ):
        with pytest.raises(InputError, match=r"pip install 'audframe\[s3\]'"):
            call()


def test_a_root_that_is_a_file_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    load = thrive(TENANT_A, f"{DAY}T06:00:00Z", 1)
    with pytest.raises(InputError, match="is a file, not a directory"):
        to_parquet(load, tmp_path / "file")
    with pytest.raises(InputError, match="file is a file"):
        to_parquet(load, tmp_path / "file" / "lake")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
