"""Blame the right line for errors raised inside a trace.

Torch's messages name the symptom; the cause is often elsewhere. "modified by an inplace operation"
names the op that *saved* the tensor (e.g. SigmoidBackward0), anomaly mode points at that op too; the
line to fix is the in-place op, which the tracer recorded with the tensor's version counter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from gradviz.records import Capture, ErrorInfo, ErrorKind, Inplace, Site, error_kind_of

if TYPE_CHECKING:
    from gradviz.capture._lineage import Lineage

# torch names the node whose output the saved tensor is; a tensor with no grad_fn (data, a mask) is named by
# type and shape alone
_INPLACE_SAVED = re.compile(
    r"modified by an inplace operation: \[(?P<type>[\w.]+) \[(?P<shape>[\d, ]*)\]\],?(?: which is output "
    r"(?P<out>\d+) of (?P<node>\w+),)? is at version (?P<now>\d+); expected version (?P<expected>\d+)"
)


def classify_forward_error(
    exc: BaseException,
    op: str,
    site: Site | None,
    inputs: list[torch.Tensor],
    lineage: Lineage,
    op_site: Callable[[int], Site | None],
) -> ErrorInfo:
    message = str(exc)
    kind = error_kind_of(message)
    blame, blame_op = site, op
    if kind is ErrorKind.inference_saved:
        for t in inputs:
            if t.is_inference():
                entry = lineage.get(t)
                if entry is not None and entry[4] >= 0:
                    blame, blame_op = op_site(entry[4]), "inference_mode"
                break
    return ErrorInfo(
        type=type(exc).__name__,
        message=_first_line(message),
        phase="forward",
        site=site,
        kind=kind,
        blame=blame,
        blame_op=blame_op,
    )


def classify_backward_error(
    exc: BaseException,
    site: Site | None,
    cap: Capture,
    again: bool = False,
    freed_by: Site | None = None,
    fresh: bool = True,
    saved_at: int = -1,
) -> ErrorInfo:
    """``again``: this backward's loss had already been backpropagated inside the trace; ``freed_by``: the
    line of the last backward that ran without retain_graph (it freed the graph's saved tensors); ``fresh``:
    a new forward began after it (a parameter was used again), rather than a second loss of the same one;
    ``saved_at``: the forward op whose node holds the saved tensor an in-place write changed (-1: unknown)."""
    message = str(exc)
    kind = error_kind_of(message)
    blame, blame_op = site, ""
    if kind is ErrorKind.inplace_saved:
        culprit = blame_inplace(message, cap.inplace, saved_at)
        if culprit is not None:
            blame, blame_op = culprit.site, culprit.op
    elif kind is ErrorKind.graph_freed:
        # Most often state carried across steps without .detach() (an RNN hidden state, a running
        # buffer): backward walks on into the previous step's graph, whose buffers are freed.
        if cap.carried and not again and (fresh or freed_by is None):
            blame, blame_op = cap.carried[-1].site, "carried"  # the latest: the forward that failed
        elif freed_by is not None:  # two losses through one graph: the first backward freed it
            blame, blame_op = freed_by, "second backward" if again else "freed by"
    return ErrorInfo(
        type=type(exc).__name__,
        message=_first_line(message),
        phase="backward",
        site=site,
        kind=kind,
        blame=blame,
        blame_op=blame_op,
    )


def blame_inplace(message: str, events: list[Inplace], saved_at: int = -1) -> Inplace | None:
    """The in-place op that bumped the saved tensor past the version autograd expected: of the writes after
    the op that saved it (``saved_at``, when known), the one that matches torch's message best. The writes
    of the forward come first (one after the save changed something saved); those made by a hook while the
    backward ran (index -1, NOTE [writes during a backward]) are looked at only when the forward made none."""
    forward = [e for e in events if e.index >= 0]
    if saved_at >= 0:
        forward = [e for e in forward if e.index > saved_at] or forward
    backward = [e for e in events if e.index < 0]
    m = _INPLACE_SAVED.search(message)
    if m is None:
        return (forward or events)[-1] if events else None
    shape = tuple(int(s) for s in m["shape"].split(",") if s.strip())
    expected = int(m["expected"])
    node = _op_family(m["node"] or "")  # "": it had no grad_fn, as an in-place write on data has none

    def score(e: Inplace) -> tuple[int, int, int]:
        return (e.shape == shape, _op_family(e.made_by) == node, e.version == expected + 1)

    pool = forward or backward  # a write of the forward after the save changed something saved: first
    return max([e for e in pool if e.shape == shape] or pool, key=score, default=None)


def _op_family(node_name: str) -> str:
    """Torch's message says "Sigmoid" where the node is "SigmoidBackward0": the same op."""
    return re.sub(r"Backward\d*$", "", node_name).lower()


def _first_line(message: str) -> str:
    return message.strip().split("\n", 1)[0]


def error_from_traceback(exc: BaseException, phase: str) -> ErrorInfo:
    """An exception that no torch call raised (a plain Python error in the user's forward, a shape check in
    a library): blamed on the user's innermost line in its traceback, with the library line under it."""
    from gradviz.capture._frames import LIBRARY, USER, kind_of_code, site_at

    user = inner = None
    tb = exc.__traceback__
    while tb is not None:  # outermost to innermost; each entry knows the line it was at
        kind = kind_of_code(tb.tb_frame.f_code)
        if kind == USER:
            user, inner = site_at(tb.tb_frame.f_code.co_filename, tb.tb_lineno, False), None
        elif kind == LIBRARY:
            inner = site_at(tb.tb_frame.f_code.co_filename, tb.tb_lineno, True)
        tb = tb.tb_next
    return ErrorInfo(
        type=type(exc).__name__,
        message=_first_line(str(exc)) or type(exc).__name__,
        phase=phase,
        site=user,
        kind=error_kind_of(str(exc)),
        blame=user,
        blame_op="",
        inner=inner,
    )


_SAVED_WALK_LIMIT = 20_000  # nodes looked at for the one whose saved tensor was changed


def saved_and_changed(roots: list[torch.Tensor], op_of_node) -> int:
    """After "modified by an inplace operation": the forward op whose autograd node holds the changed saved
    tensor, found as torch finds it (unpacking each node's saved tensors raises for that one); -1: none."""
    seen: set[int] = set()
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
    while stack and len(seen) < _SAVED_WALK_LIMIT:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for attr in dir(node):
            if attr.startswith("_saved_"):
                try:
                    getattr(node, attr)
                except RuntimeError as exc:
                    if "inplace" in str(exc):
                        return op_of_node(node._sequence_nr())
                except Exception:  # an attribute torch cannot show: not this one
                    continue
        stack.extend(fn for fn, _ in node.next_functions if fn is not None)
    return -1
