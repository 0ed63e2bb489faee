"""Small helpers that every message uses: a line, its code, a norm."""

from __future__ import annotations

from gradviz.records import Site


def at(site: Site | None) -> str:
    return f" at {site.where}" if site is not None else ""


def code(site: Site | None) -> str:
    return f" (`{site.code}`)" if site is not None and site.code else ""


def norm(value: float | None) -> str:
    return "" if value is None else f" (norm {value:.3g})"
