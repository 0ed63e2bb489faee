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
import site
import sys
import sysconfig
import tokenize
from types import CodeType, FrameType

import torch

from gradviz.records import Site

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_GRADVIZ_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_DEMOS_DIR = os.path.join(_GRADVIZ_DIR, "_demos") + os.sep  # teaching demos are user code: point into them
_CHECKPOINT_FILE = os.path.join(_TORCH_DIR, "utils", "checkpoint.py")
_FUNCTION_FILE = os.path.join(_TORCH_DIR, "autograd", "function.py")
# Frames of these files are plumbing between the user's line and the torch call (context managers,
# decorators); skipping them points at the line the user wrote.
_PLUMBING = (contextlib.__file__, functools.__file__)

# Library code (site-packages, the standard library) is not the user's either, but unlike torch it is
# worth naming: a cut inside transformers is reported at the user's line that called into it, with the
# library line in the message. Kinds, cached per code object:
INTERNAL, LIBRARY, USER = 0, 1, 2
_LIBRARY_DIRS = tuple(
    sorted(
        {
            os.path.join(p, "")
            for p in (*site.getsitepackages(), site.getusersitepackages(), sysconfig.get_paths()["stdlib"])
            if p
        }
    )
)

_kinds: dict[CodeType, int] = {}
_sites: dict[tuple[str, int], int] = {}  # (file, line) -> index into SITES
SITES: list[Site | None] = [None]  # index 0 is "no user frame"; indices stay valid for the process
# The user's line that called into library code, set by user_site_index as a side result (0: the site
# itself is the user's line). One slot, read right after the call: cheaper than returning a tuple per op.
CALLER = [0]


def _kind(code: CodeType) -> int:
    kind = _kinds.get(code)
    if kind is None:
        file = code.co_filename
        if file.startswith(_DEMOS_DIR):
            kind = USER
        elif file.startswith((_TORCH_DIR, _GRADVIZ_DIR, "<frozen ")) or file in _PLUMBING:
            kind = INTERNAL
        elif file.startswith(_LIBRARY_DIRS) or "/site-packages/" in file or "/dist-packages/" in file:
            kind = LIBRARY
        else:
            kind = USER
        _kinds[code] = kind
    return kind


def user_frame(depth: int = 2) -> FrameType | None:
    """The innermost frame of user code, starting ``depth`` frames above the caller of this function."""
    frame: FrameType | None = sys._getframe(depth)
    while frame is not None and _kind(frame.f_code) != USER:
        frame = frame.f_back
    return frame


def site_of(frame: FrameType | None) -> Site | None:
    return SITES[_site_index(frame)]


def _site_index(frame: FrameType | None) -> int:
    if frame is None:
        return 0
    return _index_at(frame.f_code.co_filename, frame.f_lineno, _kind(frame.f_code) == LIBRARY)


def _index_at(file: str, line: int, library: bool) -> int:
    key = (file, line)
    index = _sites.get(key)
    if index is None:
        code = _without_comment(linecache.getline(file, line))
        SITES.append(Site(file=display_path(file), line=line, code=code, library=library))
        index = _sites[key] = len(SITES) - 1
    return index


def site_at(file: str, line: int, library: bool) -> Site | None:
    """The Site of a line (e.g. of a traceback entry)."""
    return SITES[_index_at(file, line, library)]


def is_gradviz_code(code: CodeType) -> bool:
    """Whether ``code`` is gradviz's own (its teaching demos are the user's)."""
    file = code.co_filename
    return file.startswith(_GRADVIZ_DIR) and not file.startswith(_DEMOS_DIR)


def kind_of_code(code: CodeType) -> int:
    """INTERNAL, LIBRARY or USER."""
    return _kind(code)


def user_site(depth: int = 2) -> Site | None:
    """The user's line that led to the current torch call (the user's call into a library, if the call
    came from library code)."""
    index = user_site_index(depth + 1)
    return SITES[CALLER[0] or index]


def user_sites(depth: int = 2) -> tuple[Site | None, Site | None]:
    """(the user's line, the library line under it or None) for the current torch call."""
    index = user_site_index(depth + 1)
    caller = CALLER[0]
    return (SITES[caller], SITES[index]) if caller else (SITES[index], None)


def user_site_index(depth: int = 2, known_caller: int = 0) -> int:
    """Hot path: the innermost line outside torch and gradviz, as an index into SITES (0: none); when that
    line is library code, ``CALLER[0]`` is set to the user's line above it (else 0). One walk, one dict
    lookup per frame; an int keeps per-op records free of objects the garbage collector must scan.

    ``known_caller``: the user's line that called the module whose forward is running (its module hook
    found it), used instead of walking up through every frame of a library model (dozens per op)."""
    frame: FrameType | None = sys._getframe(depth)
    kinds = _kinds
    site = 0
    while frame is not None:
        code = frame.f_code
        kind = kinds.get(code)
        if kind is None:
            kind = _kind(code)
        if kind:
            if not site:
                index = _sites.get((code.co_filename, frame.f_lineno))
                site = index if index is not None else _site_index(frame)
                if kind == USER:
                    CALLER[0] = 0
                    return site
                if known_caller:
                    CALLER[0] = known_caller
                    return site
            elif kind == USER:
                index = _sites.get((code.co_filename, frame.f_lineno))
                CALLER[0] = index if index is not None else _site_index(frame)
                return site
        frame = frame.f_back
    CALLER[0] = 0
    return site


def caller_of_module(depth: int) -> int:
    """For a module hook: the user's line that called the module (index into SITES), or 0 when library
    code called it (the ops inside then keep the enclosing user call)."""
    frame: FrameType | None = sys._getframe(depth)
    while frame is not None:
        kind = _kinds.get(frame.f_code)
        if kind is None:
            kind = _kind(frame.f_code)
        if kind == USER:
            return _site_index(frame)
        if kind == LIBRARY:
            return 0
        frame = frame.f_back
    return 0


def sites_from(frame: FrameType | None) -> tuple[Site | None, Site | None]:
    """(the user's line, the library line under it or None), walking out from ``frame``."""
    while frame is not None and _kind(frame.f_code) == INTERNAL:
        frame = frame.f_back
    if frame is None or _kind(frame.f_code) == USER:
        return site_of(frame), None
    inner = site_of(frame)
    while frame is not None and _kind(frame.f_code) != USER:
        frame = frame.f_back
    return site_of(frame), inner


def enclosing(kind_file: str, depth: int = 2, limit: int = 64) -> tuple[Site | None, Site | None] | None:
    """If a frame of ``kind_file`` (e.g. torch/utils/checkpoint.py) is on the stack, the line that called
    it, as ``sites_from`` gives it (the user's line, and the library line when a library made the call);
    otherwise None.

    Only called on the rare path where an op runs with gradients off, so a deep walk is affordable.
    """
    frame: FrameType | None = sys._getframe(depth)
    for _ in range(limit):
        if frame is None:
            return None
        if frame.f_code.co_filename == kind_file:
            above = frame.f_back
            while above is not None and above.f_code.co_filename == kind_file:
                above = above.f_back
            return sites_from(above)
        frame = frame.f_back
    return None


def checkpoint_site(depth: int = 2) -> tuple[Site | None, Site | None] | None:
    return enclosing(_CHECKPOINT_FILE, depth + 1)


def function_site(depth: int = 2) -> tuple[Site | None, Site | None] | None:
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
