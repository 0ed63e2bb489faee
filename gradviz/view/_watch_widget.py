"""The notebook widget of :func:`gradviz.watch`: gradient health over training steps (front end:
``js/src/watch``), with the autograd graph of the first backward coloured by the selected step.

The synced traits are the contract "Watch widget state" in ``js/STATE.md``;
``gradviz/view/_watch_state.py`` builds them.
"""

from __future__ import annotations

import anywidget
import traitlets

from gradviz.view._bundle import bundle_path
from gradviz.view._watch_state import WATCH_TRAITS

__all__ = ["MonitorWidget"]


class MonitorWidget(anywidget.AnyWidget):
    """Heatmap of per-parameter gradient norms over steps, line charts, a step slider and the graph.

    >>> w = MonitorWidget(**build_watch_state(history, graph_state, live=True))  # doctest: +SKIP
    >>> w.update(build_watch_state(monitor.history, graph_state, live=True))  # doctest: +SKIP
    """

    # The bundle is read when a widget is made (not at import), so a missing build is reported
    # by bundle_path() with the command that fixes it.
    _esm = traitlets.Unicode().tag(sync=True)
    timeline = traitlets.Dict().tag(sync=True)
    steps = traitlets.Bytes().tag(sync=True)
    grad_norm = traitlets.Bytes().tag(sync=True)
    param_norm = traitlets.Bytes().tag(sync=True)
    update_ratio = traitlets.Bytes().tag(sync=True)
    state = traitlets.Bytes().tag(sync=True)
    graph = traitlets.Dict().tag(sync=True)
    edge_norms = traitlets.Bytes().tag(sync=True)
    hists = traitlets.Bytes().tag(sync=True)
    #: The first NaN/Inf step replayed under trace (watch(..., forensics=True)): its graph, `{}` if none.
    replay = traitlets.Dict().tag(sync=True)
    replay_edge_norms = traitlets.Bytes().tag(sync=True)
    replay_hists = traitlets.Bytes().tag(sync=True)
    #: Precision headroom in bits, float32 [rows, params] (NaN: none); empty when nothing is charted.
    headroom = traitlets.Bytes().tag(sync=True)
    #: Row index of the selected step (-1 = the latest); the slider sets it, Python may too.
    step = traitlets.Int(-1).tag(sync=True)
    #: Name of the parameter row the user clicked ("" = none); set by the front end.
    selected = traitlets.Unicode("").tag(sync=True)

    _ACCEPTED = (*WATCH_TRAITS, "step", "selected")

    def __init__(self, **kwargs: object) -> None:
        values = self._checked("MonitorWidget", kwargs)
        super().__init__(_esm=bundle_path().read_text(encoding="utf-8"), **values)

    def update(self, state: dict[str, object]) -> None:
        """Set the traits whose value changed, in one message to the front end.

        ``state`` is what :func:`~gradviz.view._watch_state.build_watch_state` returns (any subset of its
        keys). Unchanged traits are not resent, so the front end keeps the user's view; it redraws only
        what the new arrays add.
        """
        values = self._checked("MonitorWidget.update()", state)
        changed = {key: value for key, value in values.items() if getattr(self, key) != value}
        if not changed:
            return
        with self.hold_sync():
            for key, value in changed.items():
                setattr(self, key, value)

    @classmethod
    def _checked(cls, where: str, values: dict[str, object]) -> dict[str, object]:
        unknown = sorted(set(values) - set(cls._ACCEPTED))
        if unknown:
            raise TypeError(
                f"{where} got unexpected keyword argument(s) {', '.join(unknown)}; "
                f"it accepts {', '.join(cls._ACCEPTED)}."
            )
        return {
            key: bytes(value) if isinstance(value, bytearray | memoryview) else value
            for key, value in values.items()
        }
