"""The two JSON files of a recorded run, checked: ``header.json`` (every field), ``graph.json`` (its shape).

A run folder may come from anyone (see ``gradviz/runlog/_reader.py``): a wrong field is a ValueError that
names it and says what was expected and what was found. Both files are parsed by ``gradviz/runlog/_json.py``
(bounded nesting; no NaN, no endless integer, no lone surrogate).
"""

from __future__ import annotations

import base64
import binascii
import json
import os

from gradviz.runlog._format import FORMAT, HEADER, VERSION, grads_dtype, weights_dtype
from gradviz.runlog._json import Unreadable, parse

__all__ = ["check_graph", "check_header"]

_INT64_MAX = (1 << 63) - 1


def check_header(data: bytes, where: str) -> dict:
    """The header as a dict, every field checked; a ValueError saying which field is wrong otherwise."""

    def bad(problem: str) -> ValueError:
        return ValueError(f"{where!r} is not a readable gradviz run: {HEADER} {problem}.")

    if not data.strip():
        raise bad("is empty")
    try:
        header = parse(data)
    except Unreadable as e:
        raise bad(f"field {e.key!r} {e.problem}" if e.key is not None else e.problem) from None
    except ValueError as e:
        raise bad(str(e)) from None
    if not isinstance(header, dict):
        raise bad(f"holds a JSON {_json_kind(header)}, not an object with format, version, names, ...")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(
            f"{where!r} holds format {header.get('format')!r} version {header.get('version')!r}; this "
            f"gradviz reads {FORMAT!r} version {VERSION}."
        )

    def field(key: str, expected: str, ok) -> object:
        if key not in header:
            raise bad(f"has no {key!r} field ({expected})")
        value = header[key]
        if not ok(value):
            raise bad(f"field {key!r} should be {expected}, got {_shown(value)}")
        return value

    def count(minimum: int):  # an int64, as the records' step
        return lambda v: isinstance(v, int) and not isinstance(v, bool) and minimum <= v <= _INT64_MAX

    field("names", "a list of parameter names (str)", lambda v: isinstance(v, list))
    for i, name in enumerate(header["names"]):
        if not isinstance(name, str):
            raise bad(f"field 'names' should hold str, got {_shown(name)} at index {i}")
    field("every", "an int >= 1 (an int64)", count(1))
    field("weights_every", "an int >= 1 (an int64) or null", lambda v: v is None or count(1)(v))
    p = len(header["names"])
    for key, dtype in (("grads", grads_dtype(p)), ("weights", weights_dtype(p))):
        files = field(key, 'an object {"file": name, "record_bytes": int}', lambda v: isinstance(v, dict))
        assert isinstance(files, dict)
        name = files.get("file")
        if not isinstance(name, str) or not name or "\0" in name:
            raise bad(f"field {key!r}: 'file' should be a file name in the run folder, got {_shown(name)}")
        if os.path.isabs(name):
            raise bad(f"field {key!r}: 'file' {name!r} is an absolute path; records must be in the folder")
        if files.get("record_bytes") != dtype.itemsize:
            raise bad(
                f"field {key!r}: 'record_bytes' should be {dtype.itemsize} for {p} names, got "
                f"{_shown(files.get('record_bytes'))}"
            )
    for key, expected, ok in (
        ("model", "a str", lambda v: isinstance(v, str)),
        ("optimizer", "a str or null", lambda v: v is None or isinstance(v, str)),
        ("rank", "an int >= 0 (an int64)", count(0)),
        ("world_size", "an int >= 1 (an int64)", count(1)),
        ("created", "a str", lambda v: isinstance(v, str)),
    ):
        if key in header:  # written by every version, but only shown: not required
            field(key, expected, ok)
    return header


def check_graph(data: bytes) -> tuple[dict, bytes, bytes]:
    try:
        saved = parse(data)
    except ValueError as e:
        raise ValueError(f"it {e}") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("graph"), dict):
        raise ValueError('expected an object {"graph": {...}, "edge_norms": base64, "hists": base64}')
    graph = saved["graph"]
    verdicts = graph.get("verdicts", [])
    if not isinstance(verdicts, list) or not all(
        isinstance(v, dict) and isinstance(v.get("name"), str) for v in verdicts
    ):
        raise ValueError("its 'verdicts' should be a list of objects with a 'name'")
    buffers = []
    for key in ("edge_norms", "hists"):
        text = saved.get(key, "")
        if not isinstance(text, str):
            raise ValueError(f"{key!r} should be base64 text")
        try:
            buffers.append(base64.b64decode(text.encode("ascii"), validate=True))
        except (UnicodeEncodeError, binascii.Error):
            raise ValueError(f"{key!r} is not base64") from None
    return graph, buffers[0], buffers[1]


def _json_kind(value: object) -> str:
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _shown(value: object) -> str:
    """A JSON value as an error message shows it: its kind, and the value itself when it is short."""
    if value is None or isinstance(value, dict | list):
        return "null" if value is None else f"a JSON {_json_kind(value)} of {len(value)} items"
    text = json.dumps(value)
    return f"{_json_kind(value)} {text if len(text) <= 60 else text[:57] + '...'}"
