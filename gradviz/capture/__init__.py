"""Capture: the only layer that touches live torch objects. It records a traced forward and backward
(``Session``), a finished loss's graph (``capture_loss``), or each step of a watched run (``Recorder``)
as plain records of the ground floor (``gradviz.records``), and holds no tensor, node or hook afterwards.

- ``_session``, ``_tracer``, ``_backward``: a trace's session, its TorchFunctionMode, its backward hooks;
  ``_backward_writes``: in-place writes the hooks of a backward make.
- ``_lineage``, ``_ops``, ``_oplog``, ``_frames``: which parameters each tensor depends on, op kinds,
  the op log, the user's source lines; ``_shadow``: what each cut alone keeps from the loss (what-if).
- ``_unseen``, ``_script_paths``: code the tracer cannot see into (TorchScript, compiled regions), and the
  gradient paths a TorchScript module's graph holds.
- ``_graph``, ``_locate``, ``_finite``, ``_errors``: the backward graph, where a NaN was born or a
  gradient blocked, finite checks, which line an error blames.
- ``_norms``, ``_stats``, ``_distributed``: batched norms, tensor samples, sharded tensors and ranks.
- ``_targets``, ``_optim``: what is diagnosed, and what the optimizer holds.
- ``_loss``, ``_watch``, ``_step_norms``: a graph without a trace; a watched run's per-step recorder, and
  the norms it measures at a step.
- ``_failsafe``, ``_user_warnings``: gradviz's own errors kept out of the user's step; torch's warnings
  under a trace shown at the user's line.
"""

from gradviz.capture._compiled import holds_compiled
from gradviz.capture._distributed import any_sharded, model_name, rank, records_on, world_size
from gradviz.capture._failsafe import FailSafe
from gradviz.capture._loss import capture_graph, capture_loss, read_values
from gradviz.capture._optim import optimizer_params, shown
from gradviz.capture._session import Session
from gradviz.capture._shadow import CutKey, cut_key
from gradviz.capture._step_inputs import StepInputs
from gradviz.capture._targets import from_mapping, from_model, unwrap
from gradviz.capture._watch import Recorder

__all__ = [
    "CutKey",
    "FailSafe",
    "Recorder",
    "Session",
    "StepInputs",
    "any_sharded",
    "capture_graph",
    "capture_loss",
    "cut_key",
    "from_mapping",
    "from_model",
    "holds_compiled",
    "model_name",
    "optimizer_params",
    "rank",
    "read_values",
    "records_on",
    "shown",
    "unwrap",
    "world_size",
]
