"""gradviz: see and fix gradient problems in PyTorch, inside a Jupyter notebook.

>>> import torch, gradviz
>>> model = torch.nn.Linear(3, 1)
>>> with gradviz.trace(model) as t:
...     model(torch.randn(4, 3)).sum().backward()
>>> t.verdicts["weight"].cause
<Cause.ok: 'ok'>
"""

from gradviz._assert import NotLearningError, assert_learns
from gradviz._ddp_check import DDPCheck, ddp_check
from gradviz._diagnose_loss import diagnose
from gradviz._open import Run
from gradviz._open import open as open  # public, not in __all__ (see below)
from gradviz._trace import Trace, trace
from gradviz._version import __version__ as __version__
from gradviz._watch import Monitor, watch
from gradviz.integrations.tensorboard import write_history as _write_history
from gradviz.records import Cause, GradState, History, Verdict, wire_exporters

__all__ = [
    "Cause",
    "DDPCheck",
    "GradState",
    "History",
    "Monitor",
    "NotLearningError",
    "Run",
    "Trace",
    "Verdict",
    "assert_learns",
    "ddp_check",
    "diagnose",
    "trace",
    "watch",
]
# gradviz.open(log_dir) is public but kept out of __all__: `from gradviz import *` must not replace the
# builtin open().

wire_exporters(tensorboard=_write_history)  # see NOTE [exporters are wired from above] in records/_history.py


def load_ipython_extension(ipython) -> None:
    """``%load_ext gradviz``: the ``%%gradviz`` cell magic (see ``gradviz.integrations.ipython``)."""
    from gradviz.integrations.ipython import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str):
    if name == "demos":  # `gradviz.demos.x()` after a plain `import gradviz`, without importing it eagerly
        import gradviz.demos

        return gradviz.demos
    raise AttributeError(f"module 'gradviz' has no attribute {name!r}")
