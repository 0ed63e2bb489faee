"""The targets a trace finds as it runs, beside those it was given: a leaf that requires grad used in the
forward (``trace()`` with nothing to watch), a Parameter a module swapped in for a watched one (FSDP2), and
the Parameters the model made during the traced forward (lazily, or anew on every call)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from gradviz.capture import _targets
from gradviz.capture._frames import user_frame, user_site
from gradviz.capture._lineage import Lineage
from gradviz.capture._norms import norms_and_states
from gradviz.records import Capture, GradState, Site

__all__ = ["Adoption"]


class Adoption:
    """Mixed into the Session: targets found during the trace."""

    cap: Capture
    watched: list[_targets.Watched]
    lineage: Lineage
    _model: nn.Module | None
    _running: list[nn.Module]
    _module_names: dict[int, str]
    _index_of: dict[str, int]
    _aliases: dict[int, tuple[torch.Tensor, int]]
    _new_params: dict[int, Site | None]
    _unnamed: list[int]

    def _adopt_stand_in(self, param: torch.Tensor) -> bool:
        """A Parameter the tracer does not know: if a running module holds it under the name of a watched
        parameter, it stands in for that one (FSDP2 swaps unsharded Parameters in for the forward). Its first
        use is remembered either way: the model may have just made it (see ``_adopt_created``)."""
        self._new_params.setdefault(id(param), user_site())
        for module in reversed(self._running):
            for attr, value in module._parameters.items():
                if value is param:
                    prefix = self._module_names.get(id(module), "")
                    index = self._index_of.get(f"{prefix}.{attr}" if prefix else attr)
                    if index is None:
                        return False
                    self.lineage.add_target(param, index)
                    self._aliases[id(param)] = (param, index)
                    return True
        return False

    def _adopt(self, tensor: torch.Tensor, site: Site | None) -> int:
        """trace() with nothing to watch: a leaf requiring grad used in the forward becomes a target."""
        index = len(self.watched)
        found = _variable_name(tensor)
        if found is None:
            self._unnamed.append(index)
        w = _targets.discovered(index, self._unique(found or f"tensor_{index}"), tensor)
        self.watched.append(w)
        self.cap.targets.append(w.target)
        self.lineage.add_target(tensor, index)
        return index

    def _unique(self, name: str) -> str:
        """Two variables of one name (in different frames) keep both verdicts: "w", "w#2"."""
        taken = {w.target.name for w in self.watched}
        if name not in taken:
            return name
        n = 2
        while f"{name}#{n}" in taken:
            n += 1
        return f"{name}#{n}"

    def _name_unnamed(self) -> None:
        """Adopted tensors whose variable did not exist yet when first used (a module built inside the
        trace): name them from the frame the trace ends in."""
        for index in self._unnamed:
            w = self.watched[index]
            found = _variable_name(w.tensor)
            if found:
                w.target.name = self._unique(found)

    def _adopt_created(self) -> None:
        """Parameters the model holds now that it did not hold when the trace began: made during the traced
        forward (lazily on a first call, or anew on every call). Each becomes a target; a Parameter it
        replaced under the same name is dropped from the verdicts."""
        if self._model is None or not self._new_params:  # no Parameter was registered or met: none is new
            return
        known = {id(w.tensor) for w in self.watched}
        by_name = {w.target.name: w for w in self.watched}
        for name, param in self._model.named_parameters():
            if id(param) in known:
                continue
            old = by_name.get(name)
            w = _targets.discovered(len(self.watched), name, param)
            w.target.kind = "parameter"
            w.target.module = name.rpartition(".")[0]
            w.target.created = self._new_params.get(id(param))
            if old is not None:  # the graph knew the new Parameter by the old one's index (a stand-in)
                old.target.kind = "replaced"
                w.target.replaced = True
                w.target.reached, w.target.node, w.target.first_use = (
                    old.target.reached,
                    old.target.node,
                    old.target.first_use,
                )
                for node in self.cap.graph:
                    if node.target == old.target.index:
                        node.target = w.target.index
            grad = param.grad
            if grad is not None:
                norms, states = norms_and_states([grad])
                w.target.delivered_norm = norms[0]
                w.target.delivered = GradState.unknown if states[0] is None else states[0]
            self.watched.append(w)
            self.cap.targets.append(w.target)


def _variable_name(tensor: torch.Tensor) -> str | None:
    """The name the user's code gives this tensor, looked up by identity in the user's frame."""
    frame = user_frame(1)
    if frame is None:
        return None
    with contextlib.suppress(Exception):  # exotic frames (f_locals proxies of C extensions) may refuse
        for scope in (frame.f_locals, frame.f_globals):
            for key, value in scope.items():
                if value is tensor and not key.startswith("_"):
                    return key
        for scope in (frame.f_locals, frame.f_globals):  # a parameter of a module the user holds
            for key, value in scope.items():
                if isinstance(value, nn.Module) and not key.startswith("_"):
                    for name, param in value.named_parameters():
                        if param is tensor:
                            return f"{key}.{name}"
    return None
