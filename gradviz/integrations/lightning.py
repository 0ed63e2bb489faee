"""gradviz for Lightning 2 (``import lightning.pytorch as pl``; falls back to ``pytorch_lightning``).

>>> from gradviz.integrations.lightning import GradvizCallback     # doctest: +SKIP
>>> cb = GradvizCallback()                                         # doctest: +SKIP
>>> pl.Trainer(max_epochs=3, callbacks=[cb]).fit(module, loader)   # doctest: +SKIP
>>> cb.monitor    # in a notebook: the watch widget                # doctest: +SKIP
>>> cb.trace      # the first training step, traced                # doctest: +SKIP

With both packages installed, use the callback of the one whose ``Trainer`` you run:
``gradviz.integrations.pytorch_lightning.GradvizCallback`` for ``pytorch_lightning.Trainer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the checker sees one of the two (the same class, packaged twice)
    from lightning.pytorch import Callback
else:
    try:
        from lightning.pytorch import Callback
    except ImportError:  # only the standalone pytorch_lightning package is installed
        from pytorch_lightning import Callback

from gradviz.integrations._lightning_impl import LightningGradviz

__all__ = ["GradvizCallback"]


class GradvizCallback(LightningGradviz, Callback):
    __doc__ = LightningGradviz.__doc__
