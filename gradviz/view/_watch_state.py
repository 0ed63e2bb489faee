"""Watch widget state: a :class:`~gradviz.records._history.History` as the traits of ``MonitorWidget``.

The contract with the front end is the section "Watch widget state" of ``js/STATE.md``: one JSON
``timeline`` (names, modules, graph node of each column, thresholds) and the arrays as little-endian
bytes (``steps`` int32, ``grad_norm`` / ``param_norm`` / ``update_ratio`` float32 ``[rows, params]``,
``state`` uint8). Plain data in, plain data out: no torch object is read here.

>>> from gradviz.records import History
>>> state = build_watch_state(History.empty(["enc.weight"]))
>>> state["timeline"]["modules"], state["steps"]
(['enc'], b'')
"""

from __future__ import annotations

import math
import re

import numpy as np

from gradviz.records import History
from gradviz.view._watch_forensics import NO_REPLAY, WatchForensics
from gradviz.view._watch_headroom import WatchHeadroom
from gradviz.view._watch_summary import VANISH, frozen_columns, moves

__all__ = ["WATCH_TRAITS", "build_watch_state", "loss_root", "module_of"]

TIMELINE_VERSION = 1

#: Keys of the dict that :func:`build_watch_state` returns: the data traits of ``MonitorWidget``.
WATCH_TRAITS = (
    "timeline",
    "steps",
    "grad_norm",
    "param_norm",
    "update_ratio",
    "state",
    "graph",
    "edge_norms",
    "hists",
    "replay",
    "replay_edge_norms",
    "replay_hists",
    "headroom",
)
_INT32 = np.iinfo(np.int32)

# NOTE [the watch graph's root]
# watch draws the graph from the model's output down. Most models return logits and the loss is computed
# outside (not drawn); a Hugging Face model given labels returns its loss first, so the root IS the loss.
# The root is said to be the loss when its autograd node is one of torch's loss ops, or one reached from it
# through a few scalar steps the loss code takes after the loss op (HF divides a summed loss by the number
# of tokens; label smoothing adds two terms). Loss ops that torch builds from plain ops (l1_loss: Mean of
# Abs) are not recognised: the root is then called the model's output, which it also is.
_LOSS_OP = re.compile(r"^(?:\w*Loss\w*|BinaryCrossEntropy\w*|KlDiv)Backward\d*$")
_SCALAR_STEP = re.compile(
    r"^(?:Add|Sub|Rsub|Mul|Div|Neg|Mean|Sum|View|UnsafeView|Reshape\w*|Squeeze|Unsqueeze|Clone|ToCopy)Backward\d*$"
)
_ROOT_DEPTH = 4  # scalar steps looked through below the root


def stopped_text(last_row: int | None, what: str) -> str:
    """The sentence for a recording that gradviz's own error stopped (NOTE [fail-safe]): ``last_row`` is the
    step of the last row recorded before it (None: none was)."""
    when = f"after step {last_row}" if last_row is not None else "before its first row"
    return (
        f"gradviz stopped recording {when}: {what}. Training went on as it would without gradviz; the rows "
        "up to there are as recorded, and no later step is. Please report this, with this sentence."
    )


def module_of(name: str) -> str:
    """Module path of a parameter: its name without the last dotted part ("" = the root module)."""
    return name.rpartition(".")[0]


def build_watch_state(
    history: History,
    graph_state: tuple[dict, bytes, bytes] | None = None,
    *,
    live: bool = False,
    vanish: float = VANISH,
    explode: float = 10.0,
    forensics: WatchForensics | None = None,
    headroom: WatchHeadroom | None = None,
    stopped: tuple[int | None, str] | None = None,
) -> dict[str, object]:
    """The trait values of ``MonitorWidget`` for ``history``.

    ``graph_state`` is the ``(graph, edge_norms, hists)`` of :func:`gradviz.view._state.build_state` for
    the first backward pass, or None while it is not captured (the graph traits are then empty).
    ``live`` says the run is still recording; ``vanish`` and ``explode`` are the thresholds the front end
    flags with (a grad norm below ``vanish``; a jump above ``explode`` x the running median).
    ``forensics``: the replay of the first NaN/Inf step
    (:func:`~gradviz.view._watch_forensics.watch_forensics`), or None when there is none (no NaN yet, or a
    run read from disk).
    ``headroom``: the run's precision headroom (:func:`~gradviz.view._watch_headroom.watch_headroom`), or
    None when it was not measured (the ``headroom`` trait is then empty).
    ``stopped``: (the step of the last row, what failed) when gradviz's own error stopped the recording
    (NOTE [fail-safe]).
    """
    _check_threshold("vanish", vanish)
    _check_threshold("explode", explode)
    graph, edge_norms, hists = graph_state if graph_state is not None else ({}, b"", b"")
    names = list(history.names)
    steps = np.asarray(history.steps, dtype=np.int64)
    if steps.size and (steps.min() < _INT32.min or steps.max() > _INT32.max):
        raise ValueError(
            f"step numbers must fit in int32 for the widget, got {steps.min()}..{steps.max()}; "
            "watch with a larger `every` or restart the count."
        )
    timeline = {
        "version": TIMELINE_VERSION,
        "names": names,
        "modules": [module_of(name) for name in names],
        "nodes": _node_of_names(graph, names),
        "frozen": frozen_columns(names, graph),
        "moves": moves(history),
        "rows": len(history),
        "every": int(history.every),
        "stride": int(history.stride),
        "weights_every": None if history.weights_every is None else int(history.weights_every),
        "first_nonfinite": _first_nonfinite(history),
        "loss_root": {"first": loss_root(graph), "replay": loss_root((forensics or NO_REPLAY).graph)},
        "forensics": forensics.info if forensics is not None else None,
        "headroom": headroom.info if headroom is not None else None,
        "vanish": float(vanish),
        "explode": float(explode),
        "live": bool(live),
        "stopped": stopped_text(*stopped) if stopped is not None else None,
    }
    return {
        "timeline": timeline,
        "steps": _bytes(steps, "<i4"),
        "grad_norm": _bytes(history.grad_norm, "<f4"),
        "param_norm": _bytes(history.param_norm, "<f4"),
        "update_ratio": _bytes(history.update_ratio, "<f4"),
        "state": _bytes(history.state, "u1"),
        "graph": graph,
        "edge_norms": bytes(edge_norms),
        "hists": bytes(hists),
        "replay": (forensics or NO_REPLAY).graph,
        "replay_edge_norms": (forensics or NO_REPLAY).edge_norms,
        "replay_hists": (forensics or NO_REPLAY).hists,
        "headroom": _headroom_rows(headroom, steps, len(names)),
    }


def _headroom_rows(headroom: WatchHeadroom | None, steps: np.ndarray, params: int) -> bytes:
    """The headroom series at the history's rows, float32 ``[rows, params]`` (NaN: no value at that row's
    step); empty when nothing is charted (no float32 copy of the history for a model with no half
    precision parameter and nothing flagged)."""
    charted = headroom.info.get("charted") if headroom is not None else None
    if headroom is None or not isinstance(charted, list) or not any(charted):
        return b""
    out = np.full((len(steps), params), np.nan, np.float32)
    kept, bits = headroom.steps, headroom.bits
    if len(kept) and len(steps) and bits.shape == (len(kept), params):
        at = np.searchsorted(kept, steps).clip(0, len(kept) - 1)
        match = kept[at] == steps
        out[match] = bits[at[match]]
    return _bytes(out, "<f4")


def loss_root(graph: dict) -> str | None:
    """The id of the root node of a watch graph when it is the loss (NOTE [the watch graph's root]: the
    model computes its loss in its forward); None when it is the model's output (the loss is outside) or
    there is no graph.

    >>> nodes = [{"id": "g0", "kind": "loss", "label": "DivBackward0"},
    ...          {"id": "g1", "kind": "op", "label": "NllLossBackward0"}]
    >>> loss_root({"nodes": nodes, "edges": [{"source": "g1", "target": "g0", "kind": "grad"}]})
    'g0'
    >>> loss_root({"nodes": nodes[:1], "edges": []}) is None
    True
    """
    nodes = graph.get("nodes")
    if not isinstance(nodes, list):
        return None
    label = {n.get("id"): str(n.get("label") or "") for n in nodes if isinstance(n, dict)}
    roots = [n.get("id") for n in nodes if isinstance(n, dict) and n.get("kind") == "loss"]
    if not roots or not isinstance(roots[0], str):
        return None
    inputs: dict[object, list[object]] = {}
    for e in graph.get("edges") or ():
        if isinstance(e, dict) and e.get("kind") == "grad":
            inputs.setdefault(e.get("target"), []).append(e.get("source"))
    level: list[object] = [roots[0]]
    seen: set[object] = {roots[0]}
    for _ in range(_ROOT_DEPTH + 1):
        if any(_LOSS_OP.match(label.get(n, "")) for n in level):
            return roots[0]
        below: list[object] = []
        for n in level:
            if _SCALAR_STEP.match(label.get(n, "")):
                below.extend(m for m in inputs.get(n, ()) if m not in seen)
        seen.update(below)
        level = below
    return None


def _node_of_names(graph: dict, names: list[str]) -> list[str | None]:
    """Graph node id of each parameter, through ``graph["verdicts"][i]["name"] -> ["node"]``."""
    node_of = {v["name"]: v.get("node") for v in graph.get("verdicts", ()) if v.get("node")}
    return [node_of.get(name) for name in names]


def _first_nonfinite(history: History) -> dict[str, object] | None:
    if history.first_nonfinite is None:
        return None
    step, name = history.first_nonfinite
    return {"step": int(step), "name": str(name)}


def _bytes(array: np.ndarray, dtype: str) -> bytes:
    """Row-major bytes of ``array`` in ``dtype`` (explicit byte order, whatever the host's)."""
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def _check_threshold(name: str, value: float) -> None:
    try:
        ok = math.isfinite(value) and value > 0
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a finite number above 0, got {value!r}.")
