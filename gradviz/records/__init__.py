"""The ground floor: plain records and the vocabulary every layer shares. Imports no other layer.

- ``_state``: :class:`GradState`, what a gradient held (with its ``unknown`` state).
- ``_capture``: the records of one trace (``Capture`` and what it holds: targets, ops, cuts, births, ...).
- ``_graph``: the recorded backward graph indexed for walks towards the loss (:class:`GraphIndex`).
- ``_summary``: a tensor summary's statistics from its sample.
- ``_verdict``: :class:`Cause` and :class:`Verdict`, what the verdict rules decide and the views show.
- ``_errors``: the kinds of error a traced step can raise, each described once.
- ``_history``, ``_steps``: a watched run's per-step record (:class:`History`) and its bounded buffer;
  ``_headroom``: its precision headroom (:class:`Headroom`).

Nothing here holds a torch object (see NOTE [plain data only] in ``_capture``); only numpy is imported.
"""

from gradviz.records._capture import (
    Birth,
    Capture,
    Carried,
    Clear,
    Cut,
    CutHow,
    ErrorInfo,
    GraphNode,
    Inplace,
    Op,
    OpList,
    OpRecords,
    Recut,
    Root,
    Site,
    Target,
    TensorSummary,
)
from gradviz.records._errors import ERROR_KINDS, ErrorKind
from gradviz.records._errors import kind_of as error_kind_of
from gradviz.records._graph import GraphIndex, inherited_ops, is_custom, op_name_of
from gradviz.records._headroom import Headroom, overflow_words, short_number
from gradviz.records._history import FORMAT_VERSION, History, wire_exporters
from gradviz.records._state import GradState
from gradviz.records._steps import StepBuffer
from gradviz.records._summary import HIST_BINS, complete
from gradviz.records._verdict import Cause, Verdict
from gradviz.records._whatif import WhatIf

__all__ = [
    "ERROR_KINDS",
    "FORMAT_VERSION",
    "HIST_BINS",
    "Birth",
    "Capture",
    "Carried",
    "Cause",
    "Clear",
    "Cut",
    "CutHow",
    "ErrorInfo",
    "ErrorKind",
    "GradState",
    "GraphIndex",
    "GraphNode",
    "Headroom",
    "History",
    "Inplace",
    "Op",
    "OpList",
    "OpRecords",
    "Recut",
    "Root",
    "Site",
    "StepBuffer",
    "Target",
    "TensorSummary",
    "Verdict",
    "WhatIf",
    "complete",
    "error_kind_of",
    "inherited_ops",
    "is_custom",
    "op_name_of",
    "overflow_words",
    "short_number",
    "wire_exporters",
]
