"""The notebook widget that draws a trace's autograd graph (front end: ``js/src``).

The synced traits are the contract in ``js/STATE.md``; ``gradviz/view/_state.py`` builds them.
"""

from __future__ import annotations

import anywidget
import traitlets

from gradviz.view._bundle import bundle_path
from gradviz.view._scale import MAX_SCALE, MIN_SCALE, check_scale

__all__ = ["GraphWidget"]


class GraphWidget(anywidget.AnyWidget):
    """The autograd graph, with disconnected parameters in red; click a node to inspect it.

    >>> GraphWidget(graph=graph, edge_norms=edge_norms, hists=hists)  # doctest: +SKIP
    >>> GraphWidget(graph=graph, edge_norms=edge_norms, hists=hists, scale=1.5)  # doctest: +SKIP

    ``scale`` draws text and graph larger, for a projector (1 to 2; the toolbar's "Size" control offers
    1x, 1.25x, 1.5x and 2x). Left at 0, the widget uses the size last chosen in this browser.
    """

    # The bundle is read when a widget is made (not at import), so a missing build is reported
    # by bundle_path() with the command that fixes it.
    _esm = traitlets.Unicode().tag(sync=True)
    graph = traitlets.Dict().tag(sync=True)
    edge_norms = traitlets.Bytes().tag(sync=True)
    hists = traitlets.Bytes().tag(sync=True)
    #: Id of the node the user clicked ("" = none); set by the front end.
    selected = traitlets.Unicode("").tag(sync=True)
    #: Display scale (1 to 2; 0 = the one this browser remembers); the toolbar's choice comes back here.
    scale = traitlets.Float(0.0).tag(sync=True)

    _ACCEPTED = ("graph", "edge_norms", "hists", "scale")
    MIN_SCALE, MAX_SCALE = MIN_SCALE, MAX_SCALE  # view/_scale.py (js/src/ui/scale.js)

    @traitlets.validate("scale")
    def _check_scale(self, proposal: dict) -> float:
        try:
            return check_scale(proposal["value"])
        except (TypeError, ValueError) as exc:
            raise traitlets.TraitError(str(exc)) from None

    def __init__(
        self, graph: dict, edge_norms: bytes, hists: bytes, scale: float = 0.0, **kwargs: object
    ) -> None:
        if kwargs:
            unknown = ", ".join(sorted(kwargs))
            raise TypeError(
                f"GraphWidget got unexpected keyword argument(s) {unknown}; "
                f"it accepts {', '.join(self._ACCEPTED)}."
            )
        super().__init__(
            _esm=bundle_path().read_text(encoding="utf-8"),
            graph=graph,
            edge_norms=bytes(edge_norms),
            hists=bytes(hists),
            scale=scale,
        )
