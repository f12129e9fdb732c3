"""Text a server sent, made safe to print: control characters shown, never obeyed.

A vendor's error message, an audience name or a JSON key may hold ESC sequences (which recolour,
retitle or clear a terminal), a newline (which forges a log line) or bidi overrides (which make
text read in another order than it is). :func:`printable` shows each as an escape instead, so
what reaches stderr, a log or the audit's text output is one honest line.

The same text may echo a credential it was sent (a vendor's error body quoting the API key, the
``Authorization`` header, the form): :func:`redact` masks every form a secret takes in text.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "PrintableFilter", "printable", "redact", "shorten"]

MASK = "********"
#: Values shorter than this are not searched for: they would mask ordinary words. Secrets are
#: refused under 8 characters at input (``_secrets.resolve``), so this bites only on masked
#: values that are not secrets (an Unless user email).
MIN_REDACTED = 4


def _escape(code: int) -> str:
    if code <= 0xFF:
        return {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(code, f"\\x{code:02x}")
    return f"\\u{code:04x}"


# C0 controls, DEL, C1 controls; line and paragraph separators; bidi embeddings, overrides and
# isolates (the "Trojan Source" characters); a zero-width no-break space (BOM) in mid-text.
_UNSAFE = [
    *range(0x20),
    *range(0x7F, 0xA0),
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x200E,
    0x200F,
    0x061C,
    0xFEFF,
]
_TABLE = {code: _escape(code) for code in _UNSAFE}


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\n``, ``\\u202e``).

    >>> printable("Bad\\x1b[2J\\nINFO forged line")
    'Bad\\\\x1b[2J\\\\nINFO forged line'
    """
    return text.translate(_TABLE)


class PrintableFilter(logging.Filter):
    """A logging filter that renders each record's message through :func:`printable`.

    Installed on the ``audframe`` logger, so every handler (the CLI's, a notebook's, an app's)
    gets one line per record, whatever a server put into an endpoint, a key or a message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = printable(message)
        if safe != message or record.args:
            record.msg, record.args = safe, None
        return True


class Revealing(Protocol):
    def reveal(self) -> str: ...


def redact(text: str, secrets: Iterable[Revealing]) -> str:
    """``text`` with every form of every secret masked.

    A vendor echoes what it was sent in whatever form it holds it: raw, escaped inside a JSON
    string, URL-encoded (a form or a query), or Base64 (HTTP Basic's ``id:secret`` is its own
    Secret in each auth object; the secret alone is covered here). Longer forms go first, so
    a form that holds another is masked whole.
    """
    forms: set[str] = set()
    for secret in secrets:
        forms |= _forms(secret.reveal())
    for form in sorted(forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, MASK)
    return text


def shorten(text: str, secrets: Iterable[Revealing], limit: int) -> str:
    """``text`` with every secret masked, then cut to ``limit`` characters.

    In that order: cutting first could leave the start of a secret, which no longer matches
    it, in what is shown.
    """
    text = redact(text, secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _forms(value: str) -> set[str]:
    if len(value) < MIN_REDACTED:
        return set()
    escaped = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    escaped |= {form.replace("/", "\\/") for form in escaped}  # PHP and others escape "/"
    encoded = value.encode()
    return {
        value,
        *escaped,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        # Without padding: the same text matches with or without it.
        base64.b64encode(encoded).decode().rstrip("="),
        base64.urlsafe_b64encode(encoded).decode().rstrip("="),
    }
