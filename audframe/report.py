"""``audframe.report``, the path the README documents: the HTML report lives in
:mod:`audframe.audit.report`, and this module re-exports it."""

from __future__ import annotations

from .audit.report import render_html, write_report

__all__ = ["render_html", "write_report"]
