"""Both loaders, the lake and the CLI against hostile servers on a real loopback socket.

Each server here is a few lines: an ``answer`` function from the request to the body. They lie
about their totals, skip rows, ignore ``page``, slip another website's record in, or send bytes
that are not UTF-8 (issue 11, cases 2, 3, 4, 6 and 16). Retries wait on a patched clock (see
conftest), so a fault costs no real sleeping.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

import audframe as af
from audframe.cli import main

Answer = Callable[[str, dict[str, str], dict[str, str]], bytes]
TENANT = "eu-west-2_HostileT"
DAY = "2026-01-05"


class Server:
    """A loopback HTTP server: ``answer(path, query, headers)`` gives each 200 body."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                server.requests.append((parts.path, query))
                body = server.answer(parts.path, query, dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def pages(self) -> list[int]:
        return [int(q["page"]) for _, q in self.requests if "page" in q]


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Server]]:
    started: list[Server] = []

    def start(answer: Answer) -> Server:
        started.append(Server(answer).__enter__())
        return started[-1]

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture
def thrive_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRIVE_TENANT_ID", TENANT)
    monkeypatch.setenv("THRIVE_API_SECRET", "hostile-secret")


def record(i: int, **more: Any) -> dict[str, Any]:
    return {"id": f"{i:024x}", "name": f"Audience {i}", "category": "structure", **more}


def thrive(
    rows: Callable[[int], list[dict[str, Any]]], *, total: int, pages: int, per: int
) -> Answer:
    """A Thrive server: ``rows(n)`` is page n; the pagination says what it is told to."""

    def answer(path: str, query: dict[str, str], headers: dict[str, str]) -> bytes:
        page = int(query["page"])
        pagination = {"totalResults": total, "totalPages": pages, "page": page, "perPage": per}
        return json.dumps({"results": rows(page), "pagination": pagination}).encode()

    return answer


def paged(records: list[dict[str, Any]], per: int) -> Callable[[int], list[dict[str, Any]]]:
    return lambda page: records[(page - 1) * per : page * per]


def load(server: Server, **kwargs: Any) -> pd.DataFrame:
    options = {"per_page": 2, "progress": False, "max_workers": 2, **kwargs}
    return af.load_thrive_audiences(base_url=server.url + "/rest/v1", **options)


def cli_thrive(server: Server, out: Path, *more: str) -> int:
    return main(
        [
            "thrive",
            "--out",
            str(out),
            "--base-url",
            server.url + "/rest/v1",
            "--per-page",
            "2",
            "--snapshot-date",
            DAY,
            *more,
        ]
    )


def snapshot(out: Path) -> Path:
    return out / "thrive/audiences" / f"tenant_id={TENANT}" / f"snapshot_date={DAY}/part-0.parquet"


# ---- Thrive: an empty or short page in the middle (case 3) ----------------------------------


def test_an_empty_page_in_the_middle_fails_the_load_naming_it(serve, thrive_env, waits):
    # Page 3 of 5 comes back empty: today pages 4 and 5 were dropped and 4 of 10 rows landed.
    records = [record(i) for i in range(10)]
    rows = paged(records, 2)
    server = serve(thrive(lambda n: [] if n == 3 else rows(n), total=10, pages=5, per=2))
    with pytest.raises(af.PaginationError, match="page 3 is empty") as info:
        load(server, max_retries=2)
    assert "page=3" in info.value.endpoint
    assert server.pages().count(3) == 3  # retried like a 5xx, then given up


def test_an_empty_page_in_the_middle_writes_nothing_from_the_cli(
    serve, thrive_env, tmp_path, capsys
):
    records = [record(i) for i in range(10)]
    rows = paged(records, 2)
    server = serve(thrive(lambda n: [] if n == 3 else rows(n), total=10, pages=5, per=2))
    assert cli_thrive(server, tmp_path, "--max-retries", "1") == 3
    assert not (tmp_path / "thrive").exists()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "page 3 is empty" in err


def test_a_page_empty_once_then_whole_is_read_whole(serve, thrive_env):
    records = [record(i) for i in range(10)]
    rows = paged(records, 2)
    seen: list[int] = []

    def flaky(page: int) -> list[dict[str, Any]]:
        seen.append(page)
        return [] if page == 3 and seen.count(3) == 1 else rows(page)

    server = serve(thrive(flaky, total=10, pages=5, per=2))
    df = load(server)
    assert df["id"].tolist() == [r["id"] for r in records]
    assert server.pages().count(3) == 2


def test_a_load_short_of_the_total_never_replaces_a_snapshot(serve, thrive_env, tmp_path, capsys):
    records = [record(i) for i in range(10)]
    whole = serve(thrive(paged(records, 2), total=10, pages=5, per=2))
    assert cli_thrive(whole, tmp_path) == 0
    before = snapshot(tmp_path).read_bytes()
    capsys.readouterr()

    # The server says 10 rows in 5 pages and serves 9: its last page is short.
    short = serve(thrive(paged(records[:9], 2), total=10, pages=5, per=2))
    assert cli_thrive(short, tmp_path) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().count("\n") == 0
    assert "read 9 of the 10 audiences" in err
    assert "--allow-partial" in err
    assert snapshot(tmp_path).read_bytes() == before  # the whole snapshot is still there

    assert cli_thrive(short, tmp_path, "--allow-partial") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["partial"] is True
    assert (summary["rows"]["thrive/audiences"], summary["total_results"]) == (9, 10)
    assert len(af.read_lake(tmp_path, "thrive/audiences")) == 9


def test_a_whole_load_says_it_is_not_partial(serve, thrive_env, tmp_path, capsys):
    server = serve(thrive(paged([record(i) for i in range(5)], 2), total=5, pages=3, per=2))
    assert cli_thrive(server, tmp_path) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["partial"], summary["total_results"]) == (False, 5)


def test_a_server_that_ignores_page_is_a_pagination_error(serve, thrive_env, tmp_path, capsys):
    records = [record(i) for i in range(2)]
    server = serve(thrive(lambda n: records, total=10, pages=5, per=2))
    with pytest.raises(af.PaginationError, match="ignores `page`"):
        load(server)
    assert cli_thrive(server, tmp_path) == 3
    assert "ignores `page`" in capsys.readouterr().err
    assert not (tmp_path / "thrive").exists()


def test_a_server_that_serves_fewer_rows_than_asked_is_read_whole(serve, thrive_env):
    # It honours `limit` (3 a page), and counts totalPages and perPage by the 1000 asked.
    records = [record(i) for i in range(20)]
    server = serve(thrive(paged(records, 3), total=20, pages=1, per=1000))
    df = load(server, per_page=1000)
    assert df["id"].tolist() == [r["id"] for r in records]
    assert df.attrs["partial"] is False


def test_records_changing_while_paged_never_duplicate(serve, thrive_env):
    # One record is deleted after page 1 is served: everything after it moves up one place.
    records = [record(i) for i in range(10)]
    served: list[int] = []

    def churning(page: int) -> list[dict[str, Any]]:
        served.append(page)
        now = records if len(served) == 1 else records[1:]
        return now[(page - 1) * 2 : page * 2]

    server = serve(thrive(churning, total=10, pages=5, per=2))
    with pytest.warns(af.TotalMismatchWarning, match="read 9"):
        df = load(server, max_workers=1)
    assert df["id"].is_unique
    assert df.attrs["partial"] is True


# ---- Thrive: lying totals never loop (case 6) -----------------------------------------------


def test_lying_totals_with_fresh_ids_end_quickly(serve, thrive_env):
    # totalPages=1, totalResults=10**15 and a full page of new ids every time.
    server = serve(
        thrive(lambda n: [record(n * 100 + i) for i in range(2)], total=10**15, pages=1, per=2)
    )
    with pytest.raises(af.PaginationError, match="the pages do not end"):
        load(server)
    assert len(server.requests) == 3


def test_lying_totals_with_small_pages_stop_at_max_pages(serve, thrive_env):
    server = serve(thrive(lambda n: [record(n)], total=10**15, pages=1, per=1))
    with pytest.raises(af.PaginationError, match="max_pages"):
        load(server, per_page=1000, max_pages=30)
    assert len(server.requests) == 30


def test_pages_alternating_between_two_id_sets_end_quickly(serve, thrive_env):
    server = serve(
        thrive(lambda n: [record(n % 2 * 10 + i) for i in range(2)], total=10**15, pages=1, per=2)
    )
    with pytest.raises(af.PaginationError, match="page 3 repeats page 1"):
        load(server)
    assert len(server.requests) == 3


# ---- both: one bad value on the wire (case 16) ---------------------------------------------


def test_thrive_bytes_that_are_not_utf8_keep_the_record_over_the_wire(serve, thrive_env):
    good = json.dumps({"results": [record(1)], "pagination": {"totalResults": 2, "totalPages": 1}})
    body = good.encode().replace(b'"results": [', b'"results": [{"id": "b", "name": "Caf\xe9"}, ')
    server = serve(lambda path, query, headers: body)
    df = load(server)
    assert df["id"].tolist() == ["b", record(1)["id"]]
    assert json.loads(df["extra"][0]) == {"name": {"$unreadable": '"Caf\\xe9"'}}
    findings = af.audit(df)
    assert findings.loc[findings["check"] == "thrive_unreadable_value", "key"].tolist() == ["b"]


# ---- Unless: a record that names another website (case 2), exact digits (case 4) --------------

UNLESS_ENV = {
    "UNLESS_API_KEY": "hostile-key",
    "UNLESS_USER_EMAIL": "me@example.com",
    "UNLESS_ACCOUNT_ID": "acc-a",
}


def audience(website: str, rule_id: str, **more: Any) -> dict[str, Any]:
    rule = {"and": [{"field": "url", "operator": "equals", "value": "/"}]}
    return {
        "accountId": "acc-a",
        "websiteId": website,
        "ruleId": rule_id,
        "name": rule_id,
        "state": "live",
        "rule": json.dumps(rule),
        "variants": [{"id": "control", "name": "Control", "weight": 100}],
        "audienceTags": ["t"],
        **more,
    }


def unless_cli(server: Server, out: Path, website: str) -> int:
    return main(
        [
            "unless",
            "--out",
            str(out),
            "--base-url",
            server.url,
            "--website-id",
            website,
            "--state",
            "live",
            "--snapshot-date",
            DAY,
        ]
    )


def test_a_record_naming_another_website_lands_only_in_the_website_asked(
    serve, monkeypatch, tmp_path, capsys
):
    for name, value in UNLESS_ENV.items():
        monkeypatch.setenv(name, value)

    def honest(path: str, query: dict[str, str], headers: dict[str, str]) -> bytes:
        website = headers["x-website-id"]
        return json.dumps({"audiences": [audience(website, f"{website}-1")]}).encode()

    assert unless_cli(serve(honest), tmp_path, "site-b") == 0
    b_files = sorted(tmp_path.glob("unless/*/website_id=site-b/*/part-0.parquet"))
    b_before = {p: p.read_bytes() for p in b_files}
    assert len(b_before) == 4

    def slipping(path: str, query: dict[str, str], headers: dict[str, str]) -> bytes:
        website = headers["x-website-id"]
        slipped = audience("site-b", "slipped", accountId="acc-x")
        return json.dumps({"audiences": [audience(website, f"{website}-1"), slipped]}).encode()

    assert unless_cli(serve(slipping), tmp_path, "site-a") == 0
    # Website B's partitions are exactly as B's own load left them.
    assert {p: p.read_bytes() for p in b_files} == b_before
    a = af.read_lake(tmp_path, "unless/audiences", website_id="site-a")
    assert a["rule_id"].tolist() == ["site-a-1", "slipped"]
    assert json.loads(a["extra"][1]) == {"accountId": "acc-x", "websiteId": "site-b"}
    for table in ("unless/variants", "unless/conditions", "unless/tags"):
        assert af.read_lake(tmp_path, table, website_id="site-b")["rule_id"].tolist() == [
            "site-b-1"
        ]

    found = af.audit({"unless/audiences": a})
    foreign = found[found["check"] == "unless_foreign_record"]
    assert foreign["key"].tolist() == ["slipped"]
    (detail,) = foreign["detail"]
    assert "names website 'site-b', loaded from website 'site-a'" in detail
    assert "names account 'acc-x', loaded from account 'acc-a'" in detail


def test_to_parquet_refuses_rows_of_a_website_the_load_did_not_ask_for(tmp_path):
    u = af.normalize_unless({"audiences": [audience("site-a", "a1"), audience("site-b", "b1")]})
    u.attrs["website_ids"] = ["site-a"]  # as if a load of site-a had rows of site-b
    with pytest.raises(af.InputError, match=r"website_id \['site-b'\] that the load did not"):
        af.to_parquet(u, tmp_path)
    assert not any(tmp_path.rglob("*.parquet"))


def test_to_parquet_refuses_rows_of_a_tenant_the_frame_does_not_name(tmp_path):
    # A frame read back from the lake carries tenant_id: rows of tenant B must not land in A's.
    df = af.normalize_thrive([record(1), record(2)])
    df["tenant_id"] = ["tenant-a", "tenant-b"]
    df.attrs["tenant_id"] = "tenant-a"
    with pytest.raises(af.InputError, match=r"tenant_id \['tenant-b'\] that the load did not"):
        af.to_parquet(df, tmp_path)
    assert not any(tmp_path.rglob("*.parquet"))
    df["tenant_id"] = "tenant-a"
    assert len(af.to_parquet(df, tmp_path)) == 1


def test_unless_integers_past_64_bits_keep_their_digits_over_the_wire(serve, monkeypatch):
    for name, value in UNLESS_ENV.items():
        monkeypatch.setenv(name, value)
    rule = '{"and":[{"field":"n","operator":"gt","value":18446744073709551616}]}'
    body = (
        '{"audiences":[{"ruleId":"r","websiteId":"site-a","score":-9223372036854775809,'
        '"rule":' + json.dumps(rule) + "}]}"
    ).encode()
    server = serve(lambda path, query, headers: body)
    u = af.load_unless_audiences(base_url=server.url, website_id="site-a", states="live")
    assert u.audiences["extra"].tolist() == ['{"score":-9223372036854775809}']
    assert u.conditions["value"].tolist() == ["18446744073709551616"]


def test_unless_bytes_that_are_not_utf8_keep_the_record_over_the_wire(serve, monkeypatch):
    for name, value in UNLESS_ENV.items():
        monkeypatch.setenv(name, value)
    body = b'{"audiences":[{"ruleId":"r","name":"\xff\xfe"},{"ruleId":"s","name":"ok"}]}'
    server = serve(lambda path, query, headers: body)
    u = af.load_unless_audiences(base_url=server.url, website_id="site-a", states="live")
    assert u.audiences["name"].tolist()[1] == "ok"
    assert json.loads(u.audiences["extra"][0]) == {"name": {"$unreadable": '"\\xff\\xfe"'}}
    findings = af.audit(u)
    assert findings.loc[findings["check"] == "unless_unreadable_value", "key"].tolist() == ["r"]
