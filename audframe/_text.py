"""Text a server sent, made safe to print: control characters shown, never obeyed.

A vendor's error message, an audience name or a JSON key may hold ESC sequences (which recolour,
retitle or clear a terminal), a newline (which forges a log line) or bidi overrides (which make
text read in another order than it is). :func:`printable` shows each as an escape instead, so
what reaches stderr, a log or the audit's text output is one honest line.
"""

from __future__ import annotations

import logging

__all__ = ["PrintableFilter", "printable"]


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
