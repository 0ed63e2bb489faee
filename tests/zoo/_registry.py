"""Every case of the zoo, in the order the sweep runs them."""

from __future__ import annotations

from ._case import Case


def all_cases() -> list[Case]:
    from . import (
        _decoders,
        _diffusion,
        _encoders,
        _moe,
        _multimodal,
        _peft,
        _seq2seq,
        _sessions,
        _speech,
        _vision,
    )

    cases = [
        *_decoders.cases(),
        *_moe.cases(),
        *_encoders.cases(),
        *_seq2seq.cases(),
        *_vision.cases(),
        *_speech.cases(),
        *_multimodal.cases(),
        *_diffusion.cases(),
        *_peft.cases(),
        *_sessions.cases(),
    ]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "zoo case names must be unique"
    return cases
