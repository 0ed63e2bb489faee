"""Standalone HTML export of the watch view: the same page as ``write_html`` (bundle and state
inlined, works from ``file://`` with no network), drawing ``MonitorWidget``'s state."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import cast

from gradviz.view._html import write_page
from gradviz.view._watch_state import WATCH_TRAITS

__all__ = ["write_watch_html"]

_JSON_TRAITS = ("timeline", "graph", "replay")


def write_watch_html(path: str | os.PathLike[str], state: dict[str, object], title: str) -> pathlib.Path:
    """Write the watch view of ``state`` (from ``build_watch_state``) as one HTML page; return its path.

    >>> write_watch_html("watch.html", build_watch_state(History.load("run.npz")), "run")  # doctest: +SKIP
    PosixPath('watch.html')
    """
    missing = [key for key in WATCH_TRAITS if key not in state]
    if missing:
        raise ValueError(f"state lacks {', '.join(missing)}; pass the dict that build_watch_state() returns.")
    values = {key: state[key] for key in _JSON_TRAITS}
    # build_watch_state's other traits are bytes, its timeline a dict (the state is typed loosely, as traits)
    buffers = {key: cast(bytes, state[key]) for key in WATCH_TRAITS if key not in _JSON_TRAITS}
    timeline = cast("Mapping[str, object]", values["timeline"])
    # A page is a snapshot: nothing records into it any more.
    values["timeline"] = {**timeline, "live": False}
    return write_page(path, {**values, "step": -1, "selected": ""}, buffers, title)
