"""Find the user's own line of code: the innermost frame outside torch and gradviz.

Walking ``sys._getframe`` costs ~1 µs per call; ``traceback.extract_stack`` costs 10-20x that, so this
module caches one "is internal?" answer per code object and builds a :class:`Site` only once per
(file, line).
"""

from __future__ import annotations

import contextlib
import functools
import io
import linecache
import os
import sys
import tokenize
from types import CodeType, FrameType

import torch

from gradviz.capture._records import Site

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_GRADVIZ_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_DEMOS_DIR = os.path.join(_GRADVIZ_DIR, "_demos") + os.sep  # teaching demos are user code: point into them
_CHECKPOINT_FILE = os.path.join(_TORCH_DIR, "utils", "checkpoint.py")
_FUNCTION_FILE = os.path.join(_TORCH_DIR, "autograd", "function.py")
# Frames of these files are plumbing between the user's line and the torch call (context managers,
# decorators); skipping them points at the line the user wrote.
_PLUMBING = (contextlib.__file__, functools.__file__)

_internal: dict[CodeType, bool] = {}
_sites: dict[tuple[str, int], int] = {}  # (file, line) -> index into SITES
SITES: list[Site | None] = [None]  # index 0 is "no user frame"; indices stay valid for the process


def _is_internal(code: CodeType) -> bool:
    internal = _internal.get(code)
    if internal is None:
        file = code.co_filename
        internal = file.startswith((_TORCH_DIR, _GRADVIZ_DIR, "<frozen ")) or file in _PLUMBING
        internal = internal and not file.startswith(_DEMOS_DIR)
        _internal[code] = internal
    return internal


def user_frame(depth: int = 2) -> FrameType | None:
    """The innermost frame of user code, starting ``depth`` frames above the caller of this function."""
    frame: FrameType | None = sys._getframe(depth)
    while frame is not None and _is_internal(frame.f_code):
        frame = frame.f_back
    return frame


def site_of(frame: FrameType | None) -> Site | None:
    return SITES[_site_index(frame)]


def _site_index(frame: FrameType | None) -> int:
    if frame is None:
        return 0
    key = (frame.f_code.co_filename, frame.f_lineno)
    index = _sites.get(key)
    if index is None:
        code = _without_comment(linecache.getline(key[0], key[1]))
        SITES.append(Site(file=display_path(key[0]), line=key[1], code=code))
        index = _sites[key] = len(SITES) - 1
    return index


def user_site(depth: int = 2) -> Site | None:
    """The user's line that led to the current torch call."""
    return SITES[user_site_index(depth + 1)]


def user_site_index(depth: int = 2) -> int:
    """Hot path: the user's line as an index into SITES (0: none). One walk, one dict lookup; an int
    keeps per-op records free of objects the garbage collector must keep scanning."""
    frame: FrameType | None = sys._getframe(depth)
    internal = _internal
    while frame is not None:
        code = frame.f_code
        flag = internal.get(code)
        if flag is None:
            flag = _is_internal(code)
        if not flag:
            index = _sites.get((code.co_filename, frame.f_lineno))
            return index if index is not None else _site_index(frame)
        frame = frame.f_back
    return 0


def enclosing(kind_file: str, depth: int = 2, limit: int = 64) -> Site | None:
    """If a frame of ``kind_file`` (e.g. torch/utils/checkpoint.py) is on the stack, the first user line
    above it (the line that called checkpoint / Function.apply); otherwise None.

    Only called on the rare path where an op runs with gradients off, so a deep walk is affordable.
    """
    frame: FrameType | None = sys._getframe(depth)
    for _ in range(limit):
        if frame is None:
            return None
        if frame.f_code.co_filename == kind_file:
            above = frame.f_back
            while above is not None and (above.f_code.co_filename == kind_file or _is_internal(above.f_code)):
                above = above.f_back
            return site_of(above)
        frame = frame.f_back
    return None


def checkpoint_site(depth: int = 2) -> Site | None:
    return enclosing(_CHECKPOINT_FILE, depth + 1)


def function_site(depth: int = 2) -> Site | None:
    return enclosing(_FUNCTION_FILE, depth + 1)


def _without_comment(line: str) -> str:
    """The statement on a source line, without its trailing comment or padding."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError):  # a line of a multi-line statement
        return line.strip()
    comment = next((t for t in tokens if t.type == tokenize.COMMENT), None)
    return (line[: comment.start[1]] if comment else line).strip()


def _notebook_cells() -> dict[str, int]:
    """IPython's own {compiled cell filename: execution count} map (what its tracebacks show), if any."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(getattr(shell, "compile", None), "_filename_map", None) or {}


def refresh_notebook_sites() -> None:
    """Forget cached sites of notebook cells: a re-run cell gets a new execution count."""
    cells = _notebook_cells()
    for key in [k for k in _sites if k[0] in cells]:
        del _sites[key]


def display_path(file: str) -> str:
    """A path a person recognises: ``In[5]`` for a notebook cell (as IPython's tracebacks say), relative
    to the working directory when inside it, else absolute."""
    cell = _notebook_cells().get(file)
    if cell is not None:
        return f"In[{cell}]"
    if file.startswith("<"):
        return file
    with contextlib.suppress(ValueError):
        rel = os.path.relpath(file)
        if not rel.startswith(".."):
            return rel
    return file
