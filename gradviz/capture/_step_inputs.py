"""What replaying a watched step needs, kept at no cost beyond references (NOTE [replaying a step]).

# NOTE [replaying a step]
# When ``watch`` records the first non-finite gradient, the optimizer has not stepped yet: the weights are
# the ones the forward used. What else the step depends on is kept here, for each forward of the watched
# model: references to its inputs (no copy) and their version counters (an input written in place since
# cannot be replayed: said, never guessed), the random number generators' states before it (dropout draws
# the same masks again), and references to the gradients that arrived at its outputs (the loss is user
# code outside the model; replaying the model's backward from those gradients needs no loss). A gradient
# that arrived already non-finite says the NaN came from the loss, outside the model. Per forward this
# costs a pre-hook, a copy of the CPU generator's 5 kB state, a hook per output; memory: the last batch and
# the last output gradient stay alive until the next forward. The hooks are the process-wide slots: the
# model itself carries nothing (it copies and saves as it would without gradviz).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils._pytree import tree_leaves

from gradviz.capture._hooks import add_forward_hook_with_kwargs, add_forward_pre_hook

__all__ = ["StepInputs"]


class StepInputs:
    """Keeps the last forward's inputs, RNG states and output gradients of one model, through the
    process-wide hook slots (NOTE [stable hook slots]: nothing is put on the model, which copies and saves
    as it would without gradviz)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.forwards = 0  # forwards since the last recorded step
        self.args: tuple[Any, ...] = ()
        self.kwargs: dict[str, Any] = {}
        self._versions: list[tuple[torch.Tensor, int]] = []
        self.cpu_rng: torch.Tensor | None = None
        self.cuda_rng: dict[int, torch.Tensor] = {}
        self.output_grads: list[torch.Tensor | None] = []
        self._model: Callable[[], torch.nn.Module | None] = weakref.ref(model)
        self._handles = [add_forward_pre_hook(self._before), add_forward_hook_with_kwargs(self._after)]

    def _before(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if module is not self._model():
            return
        self.forwards += 1
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = {}
        for t in tree_leaves(args):
            if isinstance(t, torch.Tensor) and t.device.type == "cuda":
                index = t.device.index if t.device.index is not None else torch.cuda.current_device()
                if index not in self.cuda_rng:
                    self.cuda_rng[index] = torch.cuda.get_rng_state(index)
        self.output_grads = []

    def _after(
        self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
    ) -> None:
        if module is not self._model():
            return
        self.args, self.kwargs = args, dict(kwargs)
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        self._versions = [(t, t._version) for t in tensors]
        outputs = [t for t in tree_leaves(output) if isinstance(t, torch.Tensor) and t.requires_grad]
        self.output_grads = [None] * len(outputs)
        for i, t in enumerate(outputs):
            t.register_hook(self._arrived(i))

    def _arrived(self, i: int):
        def hook(grad: torch.Tensor) -> None:
            if i < len(self.output_grads):
                self.output_grads[i] = grad

        return hook

    def changed_inputs(self) -> int:
        """How many of the last forward's input tensors were written in place since it ran."""
        return sum(t._version != v for t, v in self._versions)

    def restore_rng(self) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Set the generators to their states before the last forward; return the current ones."""
        now_cpu = torch.get_rng_state()
        now_cuda = {i: torch.cuda.get_rng_state(i) for i in self.cuda_rng}
        if self.cpu_rng is not None:
            torch.set_rng_state(self.cpu_rng)
        for i, state in self.cuda_rng.items():
            torch.cuda.set_rng_state(state, i)
        return now_cpu, now_cuda

    @staticmethod
    def put_back_rng(states: tuple[torch.Tensor, dict[int, torch.Tensor]]) -> None:
        cpu, cuda = states
        torch.set_rng_state(cpu)
        for i, state in cuda.items():
            torch.cuda.set_rng_state(state, i)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Not listening (while the model is copied and replayed: its copy's forward is not a step)."""
        model, self._model = self._model, _nothing
        try:
            yield
        finally:
            self._model = model

    def step_done(self) -> None:
        """A step was recorded: the next forward starts the next step."""
        self.forwards = 0

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.args, self.kwargs, self._versions, self.output_grads = (), {}, [], []


def _nothing() -> None:
    return None
