"""What every source's fast path shares: Arrow's JSON reader held to a schema, big bodies read
in pieces of records, and memory handed back once a body is read.

A fast path reads a body as it came over the wire straight into Arrow columns against the
documented record shape; anything the shape does not cover makes it give up, and the source's
exact path reads the body instead, so both give the same tables. The pieces here are the ones
both sources need alike; what a body looks like (its schema, where its records start and where
one may end) stays with each source.
"""

from __future__ import annotations

import ctypes
import functools
import re
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

__all__ = [
    "FIRST_PIECE_BYTES",
    "MAX_ARROW_BODY",
    "OPENS_OBJECT",
    "READ_ERRORS",
    "all_different",
    "c_function",
    "first_piece",
    "piece",
    "read_json",
    "release_memory",
    "spans",
    "text_digests",
    "text_offsets",
]

#: Bytes of body Arrow's reader takes in one block (an int32); a bigger body is read in pieces.
MAX_ARROW_BODY = 2**31 - 2
#: A body that opens with an object, after JSON's whitespace (and only JSON's: ``\f`` is not).
#: Anything else (a top-level ``null`` crashes Arrow's reader) goes to the exact path.
OPENS_OBJECT = re.compile(rb"[ \t\r\n]*\{")
#: Bytes of a body's first records that :func:`first_piece` takes: enough to see a key that
#: one record in a thousand holds, a small part of a big body's read.
FIRST_PIECE_BYTES = 1 << 20
#: What Arrow's reader raises for a body that does not fit the schema (or is not JSON).
READ_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError)


def read_json(
    data: bytes | bytearray | memoryview,
    schema: pa.Schema,
    *,
    unknown: Literal["error", "infer"] = "error",
    threads: bool = True,
    pool: pa.MemoryPool | None = None,
    first_block: int | None = None,
) -> pa.Table:
    """``data`` read by Arrow's JSON reader in one block, held to ``schema``, where it lies
    (not copied into the reader first).

    Args:
        data: a body, or a piece of one (:func:`piece`).
        schema: what the body must be; anything else fails the read.
        unknown: what a key the schema does not list does: fail the read (``error``), or get
            a type inferred (``infer``).
        threads: parse on Arrow's threads; False parses on this one (a reader already on a
            thread of its own gains nothing from more). Measured per source: each keeps the
            setting its body reads fastest and smallest with.
        pool: the memory pool the columns come from (default Arrow's).
        first_block: ``data`` is two documents, the first its first ``first_block`` bytes
            ending in a newline, the second no longer: each is a block, read on a thread of
            Arrow's pool of its own, a row each (see :func:`._drift.read_drifted`).

    Raises:
        pyarrow.ArrowInvalid: (and the rest of :data:`READ_ERRORS`) the body does not fit.
    """
    # One block, found whole by parsing it; or two, split at the newline that ends the first
    # (the last in its block, and the second block is the last: no other newline matters).
    block = len(data) + 1 if first_block is None else first_block
    return pa_json.read_json(
        pa.BufferReader(pa.py_buffer(data)),
        read_options=pa_json.ReadOptions(
            use_threads=threads or first_block is not None, block_size=block
        ),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema,
            unexpected_field_behavior=unknown,
            newlines_in_values=first_block is None,
        ),
        memory_pool=pool,
    )


def spans(
    data: bytes | bytearray | memoryview, begin: int, size: int, split: re.Pattern[bytes]
) -> list[tuple[int, int]]:
    """Where a body's records split into pieces of about ``size`` bytes, from ``begin``.

    ``split`` finds the place between two records (past ``size`` bytes from a piece's start):
    its match starts with the first record's closing ``}`` and ends where the next record
    begins. Each piece but the last ends on that ``}``; the last ends with the body.
    """
    found: list[tuple[int, int]] = []
    while (cut := split.search(data, begin + size)) is not None:
        found.append((begin, cut.start() + 1))
        begin = cut.end()
    found.append((begin, len(data)))
    return found


def first_piece(
    data: bytes | bytearray | memoryview, begin: int, size: int, split: re.Pattern[bytes]
) -> bytes:
    """The body's opening (up to ``begin``, its list's ``[``) and its records up to the first
    split past ``size`` bytes, as a body of its own (see :func:`spans`); a small body whole."""
    cut = split.search(data, begin + size)
    if cut is None:
        return bytes(data)
    return piece(data, bytes(data[:begin]), (begin, cut.start() + 1))


def piece(data: bytes | bytearray | memoryview, head: bytes, span: tuple[int, int]) -> bytes:
    """One piece as a body of its own: the body's opening (``head``, up to its list's ``[``),
    the records of ``span``, and ``]}`` (the last piece ends as the body does)."""
    begin, end = span
    tail = b"" if end == len(data) else b"]}"
    return b"".join((head, memoryview(data)[begin:end], tail))


def text_offsets(texts: pa.Array) -> tuple[np.ndarray, pa.Buffer | None]:
    """A string array's offsets (``n + 1`` of them, the array's own slice, at the width its
    type has: int32, or int64 for ``large_string``) and its data buffer, where they lie."""
    _, offsets_buffer, data = texts.buffers()
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=width)[texts.offset :][: len(texts) + 1]
    return offsets, data


def text_digests(texts: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """A 64-bit digest of each of ``texts``, or None where they have none (a null, texts of
    unequal lengths or all empty). 221k ids: 4 ms with :func:`all_different`, where pandas'
    ``is_unique`` hashes each as a string in 31.

    Equal texts have equal digests, so digests all different mean texts all different, whichever
    arrays they came from. A digest is a text's bytes, 8 at a time, folded by multiplication:
    only for texts all of one length (Thrive's ids are 24 characters), where a row of bytes is one
    row of a 2-D array.
    """
    if texts.null_count:
        return None
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.chunk(0) if texts.num_chunks == 1 else texts.combine_chunks()
    n = len(texts)
    if not n:
        return np.empty(0, dtype=np.uint64)
    offsets, data = text_offsets(texts)
    size = int(offsets[1] - offsets[0])
    # The first test is the second's quick answer for most texts of unequal lengths.
    if size == 0 or offsets[-1] - offsets[0] != size * n or (np.diff(offsets) != size).any():
        return None
    assert data is not None  # texts of a length above 0 have bytes
    rows = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(n, size)
    if size % 8:
        padded = np.zeros((n, -(-size // 8) * 8), dtype=np.uint8)
        padded[:, :size] = rows
        rows = padded
    words = rows.view(np.uint64)
    digest = words[:, 0].copy()
    for j in range(1, words.shape[1]):
        digest *= _MIX
        digest ^= words[:, j]
    digest *= _MIX
    digest ^= digest >> np.uint64(31)
    return digest


def all_different(digests: list[np.ndarray | None]) -> bool:
    """Whether no two texts are equal, told from the digests of each array of them
    (:func:`text_digests`), taken as one; False where that cannot tell (an array without
    digests, two digests alike), and the caller checks exactly."""
    if any(d is None for d in digests):
        return False
    known = [d for d in digests if d is not None]
    joined = np.concatenate(known) if known else np.empty(0, dtype=np.uint64)
    joined.sort()
    return bool((joined[1:] != joined[:-1]).all())


_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd, so multiplying by it loses no bit


def release_memory() -> None:
    """Hand the memory a read freed back to the system: Arrow's pool's and the C heap's.

    A reader's scratch space is about twice its body: once the columns are built from it,
    keeping it would only raise the peak of what comes next. Arrow's own pool (mimalloc) keeps
    freed pages until asked; glibc keeps a finished reader thread's free memory in that
    thread's arena, where this thread cannot reuse it. Elsewhere than glibc, only the first.
    """
    pa.default_memory_pool().release_unused()
    trim = c_function("malloc_trim")
    if trim is not None:
        trim(0)


@functools.cache
def c_function(name: str) -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """The C library's function ``name`` (``malloc_trim`` is glibc's), or None where the
    library has none, or there is no C library to load (``CDLL(None)`` on Windows)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError, TypeError):
        return None
