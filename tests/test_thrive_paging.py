"""Thrive's paging over a real loopback socket: a full first round, pages joined as they come.

The servers answer each request on a thread of its own, so a test can hold one page until the
loader has done something else; a hold is capped (``HOLD`` seconds) only so that a loader
which never does it fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import audframe as af
from audframe.http import client as http_client
from audframe.sources.thrive import pipeline
from audframe.sources.thrive.paging import Pager, _fingerprint, foreseen_pages

from ._at_once import AtOnce
from ._servers import Request, response
from ._servers import Server as RawServer
from .test_hostile_servers import Server, paged, record

HOLD = 10.0  # seconds; reached only by a loader that does not do what the test waits for
WORKERS = 4


class FirstRound:
    """Holds page 1's first answer until pages 2 to ``WORKERS`` are all asked: the whole first
    round is then sent, however slowly the loader's threads start (a page not yet started when
    the load ends is never sent)."""

    def __init__(self) -> None:
        self.asked = {n: threading.Event() for n in range(1, WORKERS + 1)}
        self._held = threading.Lock()

    def __call__(self, page: int) -> None:
        if page not in self.asked:
            return
        self.asked[page].set()
        if page == 1 and self._held.acquire(blocking=False):  # its first answer only
            for event in self.asked.values():
                event.wait(HOLD)


class SecondRound:
    """Pages ``WORKERS + 1`` to ``2 * WORKERS``, each marked when the server is asked for it."""

    def __init__(self) -> None:
        self.asked = {n: threading.Event() for n in range(WORKERS + 1, 2 * WORKERS + 1)}

    def ask(self, page: int) -> None:
        if page in self.asked:
            self.asked[page].set()

    def awaited(self) -> list[int]:
        """The pages asked once all are, or once :data:`HOLD` has passed."""
        deadline = time.monotonic() + HOLD
        for event in self.asked.values():
            event.wait(max(0.0, deadline - time.monotonic()))
        return [n for n, event in self.asked.items() if event.is_set()]


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(rows: Callable[[int], list[dict[str, Any]]], **pagination: int) -> Server:
        first_round = FirstRound()

        def answer(path: str, query: dict[str, str], headers: dict[str, str]) -> bytes:
            page = int(query["page"])
            first_round(page)
            return json.dumps({"results": rows(page), "pagination": pagination}).encode()

        started.append(Server(answer).__enter__())
        return started[-1]

    yield start
    for server in started:
        server.__exit__()


def _two_pages(
    conn: socket.socket, page: int, records: list[dict[str, Any]], *, pagination_first: bool = False
) -> bool:
    """Answers ``page`` of 4 ``records`` in 2 pages of 2 (with its ``pagination`` block first
    or last in the body), and 503 for any page past them."""
    if page > 2:
        conn.sendall(response(503, b"busy", reason="Service Unavailable"))
        return True
    pagination = {"totalResults": 4, "totalPages": 2, "perPage": 2}
    results = paged(records, 2)(page)
    if pagination_first:
        body = {"pagination": pagination, "results": results}
    else:
        body = {"results": results, "pagination": pagination}
    conn.sendall(response(200, body))
    return True


def _load(server: Server | RawServer, **kwargs: Any) -> Any:
    options = {"per_page": 2, "progress": False, "max_workers": WORKERS, **kwargs}
    return af.load_thrive_audiences(base_url=server.url + "/rest/v1", **options)


def test_pages_1_to_max_workers_are_asked_before_page_1_is_answered(thrive_env, serve):
    # Page 1 used to go alone: a 23-page load at 8 workers took 4 rounds instead of 3.
    records = [record(i) for i in range(20)]
    asked = {n: threading.Event() for n in range(1, 11)}
    before_page_1: list[int] = []

    def rows(page: int) -> list[dict[str, Any]]:
        asked[page].set()
        if page == 1:
            asked[4].wait(HOLD)
            before_page_1.extend(n for n, event in asked.items() if event.is_set())
        return paged(records, 2)(page)

    server = serve(rows, totalResults=20, totalPages=10, perPage=2)
    df = _load(server)
    # (Pages 2-4's bytes say how many pages there are: the next round may be asked too.)
    assert before_page_1[:4] == [1, 2, 3, 4]
    assert df["id"].tolist() == [r["id"] for r in records]
    assert sorted(server.pages()) == list(range(1, 11))


def test_the_pages_beside_page_1_are_parsed_once_page_1_is(thrive_env, serve, monkeypatch):
    # They used to be parsed as they came, side by side with page 1: on two cores, page 1
    # (which says what to send next) took a whole round's parsing to come through.
    records = [record(i) for i in range(20)]
    page_of_id = {r["id"]: i // 2 + 1 for i, r in enumerate(records)}
    parsed: list[int] = []
    parse_page = pipeline.parse_page

    def parsing(body: Any, **kwargs: Any) -> Any:
        page = parse_page(body, **kwargs)
        parsed.append(page_of_id[page.columns["id"][0].as_py()])
        return page

    answered = threading.Event()

    def rows(page: int) -> list[dict[str, Any]]:
        if page == 1:
            answered.wait(HOLD)
            time.sleep(0.3)  # the round's other pages are in, and could be parsed, first
        elif page == WORKERS:
            answered.set()
        return paged(records, 2)(page)

    monkeypatch.setattr(pipeline, "parse_page", parsing)
    server = serve(rows, totalResults=20, totalPages=10, perPage=2)
    df = _load(server)
    assert parsed[0] == 1
    assert sorted(parsed) == list(range(1, 11))
    assert df["id"].tolist() == [r["id"] for r in records]


def test_the_next_pages_go_once_page_1s_bytes_are_in_before_it_is_parsed(
    thrive_env, serve, monkeypatch
):
    # They used to wait for page 1's parse (which says how many pages there are), and for a
    # worker to finish parsing its own page: at 8 workers and 50 ms, a round lost 16-26 ms.
    records = [record(i) for i in range(20)]
    second_round = SecondRound()
    seen_while_page_1_parsed: list[int] = []
    parse_page = pipeline.parse_page

    def parsing(body: Any, **kwargs: Any) -> Any:
        if records[0]["id"].encode() in body:  # page 1: parsed only once the next are asked
            seen_while_page_1_parsed.extend(second_round.awaited())
        return parse_page(body, **kwargs)

    def rows(page: int) -> list[dict[str, Any]]:
        second_round.ask(page)
        return paged(records, 2)(page)

    monkeypatch.setattr(pipeline, "parse_page", parsing)
    server = serve(rows, totalResults=20, totalPages=10, perPage=2)
    df = _load(server)
    assert seen_while_page_1_parsed == list(second_round.asked)
    assert df["id"].tolist() == [r["id"] for r in records]
    assert sorted(server.pages()) == list(range(1, 11))


def test_the_next_pages_go_once_any_first_page_is_in_though_page_1_is_late(thrive_env, serve):
    # Page 1 answers last of its round: the next round goes on the first bytes that are in
    # (every page says totalPages), not on page 1's, as a plain pool's would.
    records = [record(i) for i in range(20)]
    second_round = SecondRound()
    asked_before_page_1: list[int] = []

    def rows(page: int) -> list[dict[str, Any]]:
        if page == 1:
            asked_before_page_1.extend(second_round.awaited())
        second_round.ask(page)
        return paged(records, 2)(page)

    server = serve(rows, totalResults=20, totalPages=10, perPage=2)
    df = _load(server)
    assert asked_before_page_1 == list(second_round.asked)
    assert df["id"].tolist() == [r["id"] for r in records]
    assert sorted(server.pages()) == list(range(1, 11))


def test_page_1s_bytes_that_foresee_too_many_pages_cost_requests_not_rows(thrive_env, waits):
    # The bytes are looked at, not parsed: a record's own "pagination" key, last in page 1,
    # foresees 9 pages where the body's own block (first) says 2. The pages sent on that
    # guess are asked once each and never retried, and the table is the two pages'.
    records = [record(i) for i in range(4)]
    records[1]["pagination"] = {"totalPages": 9}
    guessed = threading.Event()

    def two_pages(conn: socket.socket, request: Request) -> bool:
        page = int(request.query["page"])
        if page > WORKERS:
            guessed.set()
        if page == 2:
            guessed.wait(HOLD)  # the load cannot end before a guessed page is asked
        return _two_pages(conn, page, records, pagination_first=True)

    server = RawServer(two_pages)
    try:
        df = _load(server, max_retries=3)
    finally:
        server.close()
    assert df["id"].tolist() == [r["id"] for r in records]
    assert json.loads(df["extra"][1]) == {"pagination": {"totalPages": 9}}
    asked = [int(r.query["page"]) for r in server.requests]
    assert guessed.is_set()
    assert len(asked) == len(set(asked))  # none retried
    assert max(asked) <= 9
    assert waits == []


@pytest.mark.parametrize(
    ("body", "pages"),
    [
        (b'{"results":[],"pagination":{"totalResults":3,"totalPages":23,"perPage":1}}', 23),
        (b'{"pagination" : {\n "totalPages": 4}, "results": [' + b" " * 9000 + b"]}", 4),
        (b'{"results":[{"name":"\\"pagination\\":{\\"totalPages\\":9}"}]}', None),
        (b'{"results":[],"pagination":{"totalPages":"23"}}', None),
        (b'{"results":[],"pagination":{"totalPages":-1}}', None),
        (b'{"results":[],"pagination":{"totalPages":2,', None),
        (b'{"results":[],"pagination":{"totalPages":2,"x":{"y":1}}}', None),
        (b"<html>busy</html>", None),
    ],
    ids=["last", "first", "in-a-string", "text", "negative", "cut", "nested", "not-json"],
)
def test_the_pages_page_1s_bytes_foresee(body, pages):
    assert foreseen_pages(body) == pages


def test_the_first_body_that_says_foresees_and_page_1s_ends_the_wait():
    says = b'{"results":[],"pagination":{"totalPages":%d}}'
    pager = Pager("GET /audiences", 2, 100)
    pager.foresee(b"<html>busy</html>", first=False)  # page 3's says nothing: wait on
    pager.foresee(says % 7, first=False)  # page 2's says 7
    pager.foresee(says % 9, first=True)  # page 1's, later: the guess is made
    assert pager.await_foreseen() == 7

    pager = Pager("GET /audiences", 2, 100)
    pager.foresee(b"<html>busy</html>", first=True)  # page 1's says nothing: no guess
    pager.foresee(says % 7, first=False)
    assert pager.await_foreseen() is None


def test_no_more_pages_are_parsed_at_once_than_there_are_cores(thrive_env, serve, monkeypatch):
    # The pool has a thread more per request (a worker parsing lets the next request go);
    # parsing more pages side by side than there are cores only contends for the lock.
    records = [record(i) for i in range(40)]
    parsing = AtOnce()
    monkeypatch.setattr(pipeline, "parse_page", parsing.wrap(pipeline.parse_page, 0.02))
    monkeypatch.setattr(http_client.os, "cpu_count", lambda: 2)
    server = serve(paged(records, 2), totalResults=40, totalPages=20, perPage=2)
    df = _load(server)
    assert df["id"].tolist() == [r["id"] for r in records]
    assert parsing.most == 2


def test_pages_are_joined_into_the_table_while_later_ones_are_fetched(
    thrive_env, serve, monkeypatch
):
    # The main thread used to join every page only once the last one was in.
    records = [record(i) for i in range(20)]
    joined = threading.Event()
    last_page_saw_a_join: list[bool] = []
    table = pipeline.table

    def joining(*args: Any, **kwargs: Any) -> Any:
        joined.set()
        return table(*args, **kwargs)

    def rows(page: int) -> list[dict[str, Any]]:
        if page == 10:
            last_page_saw_a_join.append(joined.wait(HOLD))
        return paged(records, 2)(page)

    monkeypatch.setattr(pipeline, "table", joining)
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 4)  # two pages a batch
    server = serve(rows, totalResults=20, totalPages=10, perPage=2)
    df = _load(server)
    assert last_page_saw_a_join == [True]
    # Joined in batches, the table is the one a single body of every record makes.
    whole = af.normalize_thrive({"results": records})
    pd.testing.assert_frame_equal(df, whole, check_flags=False)


def test_the_pages_in_are_joined_while_the_last_round_is_awaited(thrive_env, serve, monkeypatch):
    # A load smaller than a batch used to join every page after the last one came in: 2-4 ms
    # of a 23-page load's end, where the main thread had waited idle for the last round.
    records = [record(i) for i in range(20)]
    joins: list[int] = []
    last_page_saw_a_join: list[bool] = []
    joined = threading.Event()
    table = pipeline.table

    def joining(pages: Any) -> Any:
        joins.append(sum(map(len, pages)))
        joined.set()
        return table(pages)

    def rows(page: int) -> list[dict[str, Any]]:
        if page == 10:
            last_page_saw_a_join.append(joined.wait(HOLD))
        return paged(records, 2)(page)

    monkeypatch.setattr(pipeline, "table", joining)
    server = serve(rows, totalResults=20, totalPages=10, perPage=2)
    df = _load(server)
    assert last_page_saw_a_join == [True]
    assert sum(joins) == 20
    assert joins[-1] <= 2 * WORKERS  # the end joins only the last round's pages
    whole = af.normalize_thrive({"results": records})
    pd.testing.assert_frame_equal(df, whole, check_flags=False)


@pytest.mark.parametrize("batches", [1, 5], ids=["one-batch", "batches"])
def test_freed_memory_goes_back_before_the_batches_are_joined(
    thrive_env, serve, monkeypatch, batches
):
    # Arrow's pool keeps what each worker thread freed: at 221k records and 4 workers the
    # load's peak (the batches made one DataFrame, then by pd.concat) was 2.5x the bytes with it
    # kept, 2.0x without.
    records = [record(i) for i in range(20)]
    events: list[str] = []
    convert = pipeline.arrow_to_pandas
    monkeypatch.setattr(pipeline, "release_memory", lambda: events.append("release"))
    monkeypatch.setattr(
        pipeline, "arrow_to_pandas", lambda t: events.append(f"convert {t.num_rows}") or convert(t)
    )
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 20 // batches)
    server = serve(paged(records, 2), totalResults=20, totalPages=10, perPage=2)
    df = _load(server)
    assert df["id"].tolist() == [r["id"] for r in records]
    # Converted to pandas once, every batch at once.
    assert events == (["convert 20"] if batches == 1 else ["release", "convert 20"])


def test_a_first_round_page_past_the_end_is_checked_only_if_it_is_read(thrive_env, serve):
    # totalPages=1 and totalResults=25, but page 2 is short: the read ends there, and page 3,
    # empty where the figures say rows, was fetched in the first round but is never read.
    records = [record(i) for i in range(15)]
    server = serve(paged(records, 10), totalResults=25, totalPages=1, perPage=10)
    with pytest.warns(af.TotalMismatchWarning, match="read 15"):
        df = _load(server, per_page=10)
    assert len(df) == 15
    assert df.attrs["pages"] == 2
    assert sorted(server.pages()) == [1, 2, 3, 4]


def test_a_first_round_page_past_the_end_that_is_wrong_when_read_is_fetched_again(
    thrive_env, serve, waits
):
    # totalPages=1 counts the 1000 asked; 2 rows a page are served. Page 2 comes back empty
    # the first time: read past totalPages, that is a fault, retried like a 5xx.
    records = [record(i) for i in range(6)]
    tries: list[int] = []

    def rows(page: int) -> list[dict[str, Any]]:
        tries.append(page)
        return [] if page == 2 and tries.count(2) == 1 else paged(records, 2)(page)

    server = serve(rows, totalResults=6, totalPages=1, perPage=1000)
    df = _load(server, per_page=1000)
    assert df["id"].tolist() == [r["id"] for r in records]
    assert df.attrs["partial"] is False
    assert sorted(server.pages()) == [1, 2, 2, 3, 4]


def test_a_server_that_is_down_gets_page_1s_retries_alone(thrive_env, waits):
    # The pages sent beside page 1 are tried once, then wait for page 1 before any retry: a
    # server that is down gets max_workers - 1 requests more than it used to, not 4x the tries.
    first_round = FirstRound()

    def down(conn: socket.socket, request: Request) -> bool:
        first_round(int(request.query["page"]))
        conn.sendall(response(503, b"busy", reason="Service Unavailable"))
        return True

    server = RawServer(down)
    try:
        with pytest.raises(af.ApiError, match="gave up after 4 tries"):
            _load(server, max_retries=3)
    finally:
        server.close()
    assert sorted(int(r.query["page"]) for r in server.requests) == [1, 1, 1, 1, 2, 3, 4]
    assert len(waits) == 3


def test_a_first_round_page_past_the_end_that_fails_is_not_retried(thrive_env, waits):
    # A server that fails the pages past its end (503) costs the load one try of each: they
    # were sent on a guess, and the read never needs them.
    first_round = FirstRound()
    records = [record(i) for i in range(4)]

    def two_pages(conn: socket.socket, request: Request) -> bool:
        page = int(request.query["page"])
        first_round(page)
        return _two_pages(conn, page, records)

    server = RawServer(two_pages)
    try:
        df = _load(server, max_retries=3)
    finally:
        server.close()
    assert df["id"].tolist() == [r["id"] for r in records]
    assert sorted(int(r.query["page"]) for r in server.requests) == [1, 2, 3, 4]
    assert waits == []


def test_a_pages_ids_fingerprint_is_the_same_whatever_their_offsets_width_or_slice():
    ids = ["63f8c5361b9c80d3274be7ca", "673db100e5c0503ac23b0e2b"]
    sliced = pa.array(["x", *ids, "y"]).slice(1, 2)
    same = {_fingerprint(pa.array(ids)), _fingerprint(pa.array(ids, pa.large_string()))}
    assert same == {_fingerprint(sliced)}
    # Where one id ends counts, not only the bytes end to end.
    assert _fingerprint(pa.array(["ab", "c"])) != _fingerprint(pa.array(["a", "bc"]))
