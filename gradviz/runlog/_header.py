"""The JSON files of a recorded run, checked: ``header.json`` (every field), ``graph.json`` (its shape),
``forensics.json`` and ``headroom.json`` (every field the view reads).

A run folder may come from anyone (see ``gradviz/runlog/_reader.py``): a wrong field is a ValueError that
names it and says what was expected and what was found. Both files are parsed by ``gradviz/runlog/_json.py``
(bounded nesting; no NaN, no endless integer, no lone surrogate).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import os

import numpy as np

from gradviz.records import Headroom
from gradviz.runlog._format import FORMAT, HEADER, VERSION, grads_dtype, weights_dtype
from gradviz.runlog._json import Unreadable, parse

__all__ = ["check_forensics", "check_graph", "check_header", "check_headroom"]

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
    return _graph_state(saved)


def _graph_state(saved: object, where: str = "") -> tuple[dict, bytes, bytes]:
    """``{"graph": {...}, "edge_norms": base64, "hists": base64}`` as (graph, edge_norms, hists)."""
    if not isinstance(saved, dict) or not isinstance(saved.get("graph"), dict):
        raise ValueError(
            f'{where}expected an object {{"graph": {{...}}, "edge_norms": base64, "hists": base64}}'
        )
    graph = saved["graph"]
    verdicts = graph.get("verdicts", [])
    if not isinstance(verdicts, list) or not all(
        isinstance(v, dict) and isinstance(v.get("name"), str) for v in verdicts
    ):
        raise ValueError(f"{where}its 'verdicts' should be a list of objects with a 'name'")
    nodes = graph.get("nodes", [])
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        raise ValueError(f"{where}its 'nodes' should be a list of objects")
    buffers = []
    for key in ("edge_norms", "hists"):
        text = saved.get(key, "")
        if not isinstance(text, str):
            raise ValueError(f"{where}{key!r} should be base64 text")
        try:
            buffers.append(base64.b64decode(text.encode("ascii"), validate=True))
        except (UnicodeEncodeError, binascii.Error):
            raise ValueError(f"{where}{key!r} is not base64") from None
    return graph, buffers[0], buffers[1]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -_INT64_MAX - 1 <= v <= _INT64_MAX


def _str_or_none(v: object) -> bool:
    return v is None or isinstance(v, str)


# the fields of forensics.json, and of its "view" (the timeline's `forensics` entry, js/STATE.md) and of
# each of the view's births: what each must be, and its test
_FORENSICS_FIELDS = {
    "step": ("an int", _is_int),
    "parameters": (
        "a list of parameter names (str)",
        lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
    ),
    "reason": ("a str", lambda v: isinstance(v, str)),
    "from_loss": ("true or false", lambda v: isinstance(v, bool)),
    "birth": ("a str", lambda v: isinstance(v, str)),
    "view": ("an object", lambda v: isinstance(v, dict)),
}
_VIEW_FIELDS = {
    "step": ("an int", _is_int),
    "replayed": ("true or false", lambda v: isinstance(v, bool)),
    "from_loss": ("true or false", lambda v: isinstance(v, bool)),
    "births": ("a list of objects", lambda v: isinstance(v, list) and all(isinstance(b, dict) for b in v)),
    "births_total": ("an int >= 0", lambda v: _is_int(v) and v >= 0),
    "reason": ("a str", lambda v: isinstance(v, str)),
    "text": ("a str", lambda v: isinstance(v, str)),
    "title": ("a str", lambda v: isinstance(v, str)),
}
_BIRTH_FIELDS = {
    "kind": ('"nan" or "inf"', lambda v: v in ("nan", "inf")),
    "phase": ("a str", lambda v: isinstance(v, str)),
    "op": ("a str", lambda v: isinstance(v, str)),
    "where": ("a str or null", _str_or_none),
    "short": ("a str or null", _str_or_none),
    "code": ("a str or null", _str_or_none),
    "detail": ("a str", lambda v: isinstance(v, str)),
    "node": ("a str or null", _str_or_none),
}


def _object(data: bytes, holding: str) -> dict:
    """``data`` parsed (depth-bounded) as a JSON object; a ValueError saying what is wrong otherwise."""
    try:
        saved = parse(data)
    except Unreadable as e:
        raise ValueError(
            f"its field {e.key!r} {e.problem}" if e.key is not None else f"it {e.problem}"
        ) from None
    except ValueError as e:
        raise ValueError(f"it {e}") from None
    if not isinstance(saved, dict):
        raise ValueError(f"it holds a JSON {_json_kind(saved)}, not an object with {holding}")
    return saved


def check_forensics(data: bytes) -> dict:
    """``forensics.json`` as a dict (``gradviz/runlog/_format.py``), every field the view reads checked;
    its ``replay`` as (graph, edge_norms, hists) or None. A ValueError naming the field otherwise."""
    saved = _object(data, "step, parameters, ...")
    _fields(saved, _FORENSICS_FIELDS, "")
    view = saved["view"]
    _fields(view, _VIEW_FIELDS, "view.")
    for i, birth in enumerate(view["births"]):
        _fields(birth, _BIRTH_FIELDS, f"view.births[{i}].")
    replay = saved.get("replay")
    state = None if replay is None else _graph_state(replay, "its 'replay': ")
    if view["step"] != saved["step"] or view["replayed"] != (state is not None):
        raise ValueError("its 'view' is not of its step and replay")
    return {**saved, "replay": state}


def _fields(value: dict, fields: dict, prefix: str) -> None:
    for key, (expected, ok) in fields.items():
        if key not in value:
            raise ValueError(f"it has no '{prefix}{key}' field ({expected})")
        if not ok(value[key]):
            raise ValueError(f"its field '{prefix}{key}' should be {expected}, got {_shown(value[key])}")


def _json_kind(value: object) -> str:
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _shown(value: object) -> str:
    """A JSON value as an error message shows it: its kind, and the value itself when it is short."""
    if value is None or isinstance(value, dict | list):
        return "null" if value is None else f"a JSON {_json_kind(value)} of {len(value)} items"
    text = json.dumps(value)
    return f"{_json_kind(value)} {text if len(text) <= 60 else text[:57] + '...'}"


# headroom.json (gradviz/runlog/_format.py): its fields, those of each record (gradviz.records.Headroom),
# and of its series
_WIRE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_SERIES_NAMES = 16  # the writer keeps the series of at most this many parameters
_SERIES_STEPS = 1 << 16  # and of at most 2048 recorded steps; more is not a file gradviz wrote


def _is_number(v: object) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) or v in _WIRE


def _number_or_none(v: object) -> bool:
    return v is None or _is_number(v)


_HEADROOM_FIELDS = {
    "step": ("an int", _is_int),
    "records": ("a list of objects", lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v)),
    "series": ("an object", lambda v: isinstance(v, dict)),
}
_RECORD_FIELDS = {
    "name": ("a str", lambda v: isinstance(v, str)),
    "dtype": ("a str", lambda v: isinstance(v, str)),
    "limit": ("a number", _is_number),
    "step": ("an int", _is_int),
    "peak": ("a number", _is_number),
    "bits": ("a number", _is_number),
    "exact": ("true or false", lambda v: isinstance(v, bool)),
    "trend": ("a number or null", _number_or_none),
    "steps_left": ("a number or null", _number_or_none),
    "flagged_at": ("an int or null", lambda v: v is None or _is_int(v)),
    "underflow": ("a number or null", _number_or_none),
    "weight_bits": ("a number or null", _number_or_none),
}
_SERIES_FIELDS = {
    "names": (
        f"a list of at most {_SERIES_NAMES} parameter names (str)",
        lambda v: isinstance(v, list) and len(v) <= _SERIES_NAMES and all(isinstance(n, str) for n in v),
    ),
    "steps": (
        f"a list of at most {_SERIES_STEPS} increasing ints",
        lambda v: (
            isinstance(v, list)
            and len(v) <= _SERIES_STEPS
            and all(_is_int(x) for x in v)
            and all(a < b for a, b in itertools.pairwise(v))
        ),
    ),
    "bits": ("base64 text", lambda v: isinstance(v, str)),
}


def _float(v: object) -> float:
    return _WIRE[v] if isinstance(v, str) else float(v)  # type: ignore[arg-type]  # checked: a number


def check_headroom(data: bytes) -> dict:
    """``headroom.json`` as ``{"step", "records": {name: Headroom}, "names", "steps", "bits"}`` (the series:
    ``steps`` int64, ``bits`` float32 ``[steps, names]``), every field checked; a ValueError naming the
    field otherwise."""
    saved = _object(data, "step, records, series")
    _fields(saved, _HEADROOM_FIELDS, "")
    records: dict[str, Headroom] = {}
    for i, rec in enumerate(saved["records"]):
        _fields(rec, _RECORD_FIELDS, f"records[{i}].")

        def num(key: str, r: dict = rec) -> float:
            return _float(r[key])

        def opt(key: str, r: dict = rec) -> float | None:
            return None if r[key] is None else _float(r[key])

        records[rec["name"]] = Headroom(
            name=rec["name"],
            dtype=rec["dtype"],
            limit=num("limit"),
            step=rec["step"],
            peak=num("peak"),
            bits=num("bits"),
            exact=rec["exact"],
            trend=opt("trend"),
            steps_left=opt("steps_left"),
            flagged_at=rec["flagged_at"],
            underflow=opt("underflow"),
            weight_bits=opt("weight_bits"),
        )
    series = saved["series"]
    _fields(series, _SERIES_FIELDS, "series.")
    names, steps = series["names"], series["steps"]
    try:
        raw = base64.b64decode(series["bits"].encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("its field 'series.bits' is not base64") from None
    if len(raw) != 4 * len(names) * len(steps):
        raise ValueError(
            f"its field 'series.bits' holds {len(raw):,} bytes, not 4 x {len(steps)} steps x "
            f"{len(names)} names"
        )
    bits = np.frombuffer(raw, "<f4").astype(np.float32).reshape(len(steps), len(names))
    return {
        "step": saved["step"],
        "records": records,
        "names": list(names),
        "steps": np.asarray(steps, np.int64),
        "bits": bits,
    }
