"""gradviz: see and fix gradient problems in PyTorch, inside a Jupyter notebook.

>>> import torch, gradviz
>>> model = torch.nn.Linear(3, 1)
>>> with gradviz.trace(model) as t:
...     model(torch.randn(4, 3)).sum().backward()
>>> t.verdicts["weight"].cause
<Cause.ok: 'ok'>
"""

from gradviz._diagnose_loss import diagnose
from gradviz._trace import Trace, trace
from gradviz._watch import Monitor, watch
from gradviz.diagnose import Cause, Verdict

__all__ = ["Cause", "Monitor", "Trace", "Verdict", "diagnose", "trace", "watch"]
__version__ = "0.1.0"
