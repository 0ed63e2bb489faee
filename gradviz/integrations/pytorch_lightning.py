"""gradviz for ``pytorch_lightning.Trainer`` (the standalone package); see ``gradviz.integrations.lightning``.

>>> from gradviz.integrations.pytorch_lightning import GradvizCallback   # doctest: +SKIP
"""

from __future__ import annotations

from pytorch_lightning import Callback

from gradviz.integrations._lightning_impl import LightningGradviz

__all__ = ["GradvizCallback"]


class GradvizCallback(LightningGradviz, Callback):
    __doc__ = LightningGradviz.__doc__
