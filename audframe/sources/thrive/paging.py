"""Thrive's paging: what page 1 says about the pages, and every page checked against it."""

from __future__ import annotations

import hashlib
import math
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from ..._json import JSONDecodeError, loads
from ..._options import option
from ...errors import PaginationError
from .._arrow import text_offsets
from .records import Page


class TotalMismatchWarning(UserWarning):
    """The rows read differ from the ``totalResults`` the server reported."""


class Pager:
    """What page 1 said about the pages, and each page checked against it as it comes.

    ``size`` is the rows a page holds: the ``perPage`` the server reports, or fewer when page 1
    holds fewer (it honours ``limit``, or caps the page size) and is not the last page.
    """

    def __init__(self, endpoint: str, per_page: int, max_pages: int) -> None:
        self.endpoint = endpoint
        self.per_page = per_page
        self.max_pages = max_pages
        self.pages = 1
        self.total: int | None = None
        self.size = 0
        self.reported_size = 0
        self.faults: dict[int, str | None] = {}  # per page, the last try's fault
        self._ids: dict[tuple[bytes, int], int] = {}  # a page's ids (digest, count) -> its number
        self._lock = threading.Lock()
        self.first: Page | None = None
        self._first_read = threading.Event()
        self.foreseen: int | None = None  # totalPages as a first page's bytes say, unparsed
        self._foreseen = threading.Event()

    def check(self, number: int, page: Page) -> Page:
        """``page``, or ValueError (retried) where it contradicts what the server said."""
        self.faults[number] = None
        if number == 1:
            self._learn(page)
        pagination = page.pagination or {}
        # The page's own figures where it has them: the inventory may change while it is paged.
        pages = whole(pagination.get("totalPages"))
        pages = self.pages if pages is None else pages
        total = whole(pagination.get("totalResults"))
        total = self.total if total is None else total
        rows = len(page)
        fault = None
        if not rows and (
            (total is not None and total > (number - 1) * self.size)
            or (total is None and 1 < number <= pages)
        ):
            fault = f"page {number} is empty, but the server reported {total} rows in {pages} pages"
        elif 0 < rows < self.size and number < pages:
            fault = (
                f"page {number} holds {rows} rows, fewer than the {self.size} of a page, and is "
                f"not the last of {pages} pages"
            )
        if fault is not None:
            self.faults[number] = fault
            raise ValueError(fault)
        self._check_repeat(number, page)
        return page

    def first_read(self, page: Page | None) -> None:
        """Page 1 is through (``None``: it failed): the pages fetched beside it may be checked."""
        self.first = page
        self._first_read.set()
        self._foreseen.set()

    def foresee(self, body: bytes, *, first: bool) -> None:
        """A body of the first round is in (page 1's if ``first``): what its bytes say of
        ``totalPages``, before it is parsed. Each page's body says it, and the first to answer
        is not always page 1: the first body that says wins, and page 1's ends the wait."""
        if self._foreseen.is_set():
            return
        pages = foreseen_pages(body)
        if pages is None and not first:
            return
        with self._lock:
            if not self._foreseen.is_set():
                self.foreseen = pages
                self._foreseen.set()

    def await_foreseen(self) -> int | None:
        """``totalPages`` as the first round's first bytes in say (None: page 1's do not
        say, or it is through without them and no other page said)."""
        self._foreseen.wait()
        return self.foreseen

    def await_first(self) -> Page:
        """Page 1, once it is through; a page fetched beside it waits here before it is checked
        or retried, so a server that is down gets page 1's retries alone."""
        self._first_read.wait()
        if self.first is None:
            raise PaginationError(
                "page 1 failed; the pages fetched beside it are not read",
                endpoint=self.endpoint,
            )
        return self.first

    def retry_beside_first(self, number: int) -> None:
        """Before a page fetched beside page 1 is retried: wait for page 1, and retry only a
        page the read takes for sure (one of ``totalPages``, after a page 1 with rows).

        A page past them was sent on a guess: a server that fails it is not waited on, and
        the read fetches it again if it goes on that far.
        """
        first = self.await_first()
        if not len(first) or number > self.pages:
            raise PaginationError(
                f"page {number} is past the {self.pages} pages the server reported; "
                "not retried before it is needed",
                endpoint=self.endpoint,
            )

    def read_beside_first(self, number: int, read: Callable[[], Page]) -> Page:
        """A page fetched beside page 1, parsed (``read()``) once page 1 is through, then
        checked as :meth:`check` checks one.

        Page 1 is so parsed alone: it says how many pages to send next, and every page of the
        first round arrives at once, all wanting the same cores. A page past ``totalPages`` (or
        past an empty page 1) is left unchecked: it counts only if the read goes on past
        ``totalPages`` (:meth:`more`), and is checked then.
        """
        first = self.await_first()
        page = read()
        if not len(first) or number > self.pages:
            return page
        return self.check(number, page)

    def more(self, pages: int, seen: int, last: int) -> bool:
        """Whether to read page ``pages + 1``, past ``totalPages``: ``pages`` read so far, every
        one full, ``seen`` rows in all, ``last`` in the last one, short of ``totalResults``.

        A server whose ``totalPages`` counts a page size other than the one it serves (it
        honours ``limit``, or caps ``perPage``) would otherwise be read in part. Its
        ``totalPages`` counts at most the asked page size, so the pages it can mean are bounded
        whatever ``totalResults`` says; past them (or past ``max_pages``) the pages never end.
        """
        total, size = self.total, self.size
        if total is None or seen >= total or not size or last < size:
            return False
        counted = max(self.per_page, self.reported_size, size)
        limit = min(self.max_pages, math.ceil(self.pages * counted / size) + 2)
        if pages >= limit:
            capped = limit == self.max_pages
            raise PaginationError(
                f"the pages do not end: {pages} pages of {size} rows read, every one full, "
                f"the server said totalPages={self.pages} and totalResults={total}",
                endpoint=self.endpoint,
                status=200,
                hint=(
                    f"a tenant with more than {self.max_pages} pages needs "
                    f"{option('max_pages', '=')} set higher"
                    if capped
                    else "the server's paging looks broken; report it to Thrive"
                ),
            )
        return True

    def _learn(self, first: Page) -> None:
        pagination = first.pagination or {}
        self.pages = total_pages(first, self.endpoint, self.max_pages)
        self.total = total_results(first)
        self.reported_size = whole(pagination.get("perPage")) or 0
        rows = len(first)
        self.size = min(self.reported_size, rows) if self.reported_size and rows else rows
        self.size = self.size or self.reported_size

    def _check_repeat(self, number: int, page: Page) -> None:
        """A page with the same ids as another is a server that ignores ``page``."""
        ids = page.columns["id"]
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        if ids.null_count:
            ids = ids.drop_null()
        if not len(ids):
            return
        key = (_fingerprint(ids), len(ids))
        with self._lock:
            other = self._ids.setdefault(key, number)
        if other != number:
            first, second = sorted((other, number))
            raise PaginationError(
                f"page {second} repeats page {first}: the same {len(ids)} records; the server "
                "ignores `page`",
                endpoint=self.endpoint,
                status=200,
                hint="check base_url: it should be Thrive's public API",
            )


def _fingerprint(ids: pa.Array) -> bytes:
    """A digest of a string array's values, in order, from its buffers (no Python string each:
    a page's ids as a tuple cost a tenth of a fast load's time under the interpreter's lock)."""
    offsets, data = text_offsets(ids)
    digest = hashlib.blake2b(digest_size=16)
    # As int64 whichever width the array came with: the same ids give the same digest.
    digest.update((offsets - offsets[0]).astype(np.int64).tobytes())
    if data is not None:
        digest.update(memoryview(data)[offsets[0] : offsets[-1]])
    return digest.digest()


# A body's last `"pagination": {...}` (the one a parser keeps), with no object inside it.
_PAGINATION = re.compile(rb'(?<!\\)"pagination"[ \t\r\n]*:[ \t\r\n]*(\{[^{}]*\})')
_FORESEE_BYTES = 4096  # where a body's pagination is looked for, at each end


def foreseen_pages(body: bytes) -> int | None:
    """``totalPages`` as ``body``'s bytes say, without parsing it: from its last 4 KiB (where a
    serialiser writes the block after the records), else its first; None where neither holds
    it. Only a guess, to send the next pages early: the parsed page is what is trusted."""
    for part in (body[-_FORESEE_BYTES:], body[:_FORESEE_BYTES]):
        blocks = _PAGINATION.findall(part)
        if not blocks:
            continue
        try:
            block = loads(blocks[-1])  # the last: the one a parser keeps
        except JSONDecodeError:
            return None
        return whole(block.get("totalPages")) if isinstance(block, dict) else None
    return None


def whole(value: Any) -> int | None:
    """``value`` if it is a whole number >= 0, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def total_pages(page: Page, endpoint: str, max_pages: int) -> int:
    pagination = page.pagination or {}
    value = pagination.get("totalPages")
    if value is None:
        return 1  # no paging block: one page holds everything
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PaginationError(
            f"pagination.totalPages should be a whole number >= 0, got {value!r}",
            endpoint=endpoint,
            status=200,
        )
    if value > max_pages:
        raise PaginationError(
            f"pagination.totalPages is {value}, more than {max_pages} pages",
            endpoint=endpoint,
            status=200,
            hint=f"the server's paging looks broken; try a larger {option('per_page')}, pass "
            f"{option('max_pages', '=')} for a tenant that really has that many pages, or "
            "report it to Thrive",
        )
    return max(value, 1)


def total_results(page: Page) -> int | None:
    return whole((page.pagination or {}).get("totalResults"))


def count_mismatch(total: int, read: int, endpoint: str, *, strict: bool) -> None:
    text = (
        f"read {read} unique audiences but the server reported totalResults={total}; "
        "the inventory changed while it was paged, or the server's count is off"
    )
    if strict:
        raise PaginationError(text, endpoint=endpoint, status=200, hint="load again")
    warnings.warn(text, TotalMismatchWarning, stacklevel=3)
