"""Thrive's pages fetched and joined: page 1 and a first round beside it, then on to the end.

:func:`fetch_pages` is :func:`~.fetch.load_thrive_audiences`'s fetching stage: each worker
parses and checks the page it fetched (:class:`~.paging.Pager`), and :class:`Joined` makes the
pages the table a batch at a time while later pages are fetched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ..._extra import ExtraColumns
from ..._progress import progress_bar
from ..._schema import arrow_to_pandas
from ...errors import PaginationError, ResponseError
from ...http import HttpClient
from .._arrow import all_different, release_memory, text_digests
from .arrow import learning
from .normalize import frame, parse_page, table
from .paging import Pager
from .records import Page

__all__ = ["BATCH_ROWS", "PATH", "Joined", "fetch_pages"]

PATH = "/audiences"
#: Rows joined into the table at once while later pages are fetched (:class:`Joined`).
BATCH_ROWS = 16_000


def fetch_pages(
    client: HttpClient,
    per_page: int,
    api_controlled: bool | None,
    extra: ExtraColumns | None,
    progress: bool | None,
    max_pages: int,
) -> Joined:
    """Pages 1 to ``max_workers`` at once, then on to ``totalPages``, then on while the server
    says there is more; joined into the table a batch at a time while the next are fetched.

    The pages after the first round are sent as soon as the first round's first bytes in say
    how many there are (:func:`~.paging.foreseen_pages`: each page carries ``totalPages``),
    while the round is parsed: only a guess, checked like the first round's once page 1 is
    through.

    Each worker parses and checks the page it fetched (:meth:`Pager.check`), so its body
    never leaves it and a page that contradicts page 1 is retried like a 5xx; one that still
    does after the retries fails the load. A worker parsing holds no request slot (the next
    request goes out meanwhile), and no more pages are parsed at once than there are cores.
    """
    pager = Pager(f"GET {client.base_url}{PATH}", per_page, max_pages)
    joined = Joined(extra)
    learnt = learning()  # a key the vendor added, learnt from the first page that holds it

    def fetch(number: int, *, beside_first: bool = False) -> Page:
        params = {"page": number, "perPage": per_page, "apiControlled": api_controlled}

        def parse(body: bytes) -> Page:
            if number == 1 or beside_first:
                pager.foresee(body, first=number == 1)

            def read() -> Page:
                with client.parsing:
                    return parse_page(body, keep_raw=extra is not None, learnt=learnt)

            if beside_first:
                return pager.read_beside_first(number, read)
            return pager.check(number, read())

        try:
            return client.get(
                PATH,
                params,
                parse=parse,
                label=f"page {number}",
                before_retry=(lambda: pager.retry_beside_first(number)) if beside_first else None,
            )
        except ResponseError as exc:
            fault = pager.faults.get(number)
            if fault is None:
                raise
            raise PaginationError(
                f"{fault}, on every try",  # the fault the last of the retries got
                endpoint=exc.endpoint,
                status=200,
                hint="the server's paging is broken; try again later, or report it to Thrive",
            ) from None

    def fetch_first() -> Page:
        page = None
        try:
            page = fetch(1)
            return page
        finally:
            pager.first_read(page)

    client.sign_in()
    with client.pool() as submit:
        # A full first round: pages past the end come back empty, at most max_workers - 1.
        round_end = min(client.max_workers, max_pages)
        futures = {1: submit(fetch_first)}
        for number in range(2, round_end + 1):
            futures[number] = submit(fetch, number, beside_first=True)
        # The next pages go as soon as a first page's bytes say how many there are, while
        # they are parsed; checked, like the first round's, once page 1 is through. Their
        # threads start while the first round is awaited, not among its answers.
        submit.start_threads()
        foreseen = pager.await_foreseen() or 0
        # Past max_pages: the load fails if page 1 says so too (checked); send no more.
        foreseen = foreseen if foreseen <= max_pages else 0
        for number in range(round_end + 1, foreseen + 1):
            futures[number] = submit(fetch, number, beside_first=True)
        first = futures.pop(1).result()
        joined.add(first)
        if not len(first):
            return joined
        last = pager.pages
        for number in range(max(round_end, foreseen) + 1, last + 1):
            futures[number] = submit(fetch, number)
        # Nothing more goes to the pool: its threads end as its queue empties, while the last
        # round is awaited (pages past totalPages are fetched below, on this thread).
        submit.done()
        with progress_bar(last, "Thrive audiences", progress) as bar:
            bar.update(1)
            for number in range(2, last + 1):
                future = futures.pop(number)
                if not future.done() and len(futures) < client.max_workers:
                    # The last round is out: what is in is joined while it is awaited, so
                    # that the load's end joins only the pages that come last.
                    joined.flush()
                joined.add(future.result())
                bar.update(1)
        # Past totalPages, one page at a time: its pages fetched beside page 1 are checked now.
        while pager.more(joined.pages, joined.rows, joined.last):
            number = joined.pages + 1
            early = futures.pop(number, None)
            if early is not None and early.exception() is None:
                try:
                    page = pager.check(number, early.result())
                except ValueError:  # what the worker would have retried: fetched again
                    page = fetch(number)
            else:  # not sent yet, or tried once beside page 1 and failed
                page = fetch(number)
            if not len(page):
                break
            joined.add(page)
    return joined


class Joined:
    """The pages read, joined into the table a batch at a time as they come.

    A batch of :data:`BATCH_ROWS` rows becomes an Arrow table of the DataFrame's columns while
    the next pages are fetched, and so do the pages in while the last round is awaited
    (:meth:`flush`); :meth:`frame` makes the batches one DataFrame, converted to pandas once
    (its string columns without a copy). With ``extra_columns``, whose types are inferred over
    all the rows, the pages are joined at once at the end.
    """

    def __init__(self, extra: ExtraColumns | None) -> None:
        self.extra = extra
        self.pages = self.rows = self.last = 0
        self.first: Page | None = None
        self._pending: list[Page] = []
        self._pending_rows = 0  # kept, not summed per page: that is quadratic in small pages
        self._tables: list[pa.Table] = []
        # The ids' digests, a batch at a time as it is joined (None: a batch that has none).
        self._digests: list[np.ndarray | None] = []

    def add(self, page: Page) -> None:
        if self.first is None:  # not `or`: an empty page is falsy (Page has a length)
            self.first = page
        self.pages += 1
        self.last = len(page)
        self.rows += self.last
        if self.last:
            self._pending.append(page)
            self._pending_rows += self.last
        if self.extra is None and self._pending_rows >= BATCH_ROWS:
            self._join()

    def frame(self) -> pd.DataFrame:
        assert self.first is not None
        if self.extra is not None:
            return frame(self._pending or [self.first], self.extra)
        if self._pending or not self._tables:
            self._join()
        if self.rows > BATCH_ROWS:
            # Before the conversion that makes the load's peak: the memory the worker threads
            # (ended by now) freed, which Arrow's pool and the C heap keep for them, back to the
            # system.
            release_memory()
        return arrow_to_pandas(pa.concat_tables(self._tables))

    def flush(self) -> None:
        """Join the pages read so far into the table now, not at the next batch or the end:
        for a caller that would otherwise only wait."""
        if self.extra is None and self._pending:
            self._join()

    def ids_different(self) -> bool:
        """Whether no two rows of :meth:`frame` share an id, told from the digests each batch's
        ids got as it was joined (:func:`.._arrow.text_digests`): the load's end only compares
        them. False where that cannot tell, and the caller checks exactly."""
        if self.extra is not None:  # the pages are joined at the end, not in batches
            return all_different([text_digests(page.columns["id"]) for page in self._pending])
        return not self._pending and all_different(self._digests)  # every batch joined

    def _join(self) -> None:
        assert self.first is not None
        batch = table(self._pending or [self.first])
        self._tables.append(batch)
        self._pending = []
        self._pending_rows = 0
        self._digests.append(text_digests(batch.column("id")))
