"""Diagnose: turn captured plain data into verdicts. Pure functions, no torch objects, no hooks."""

from gradviz.diagnose._causes import Cause, Verdict
from gradviz.diagnose._notes import note_for
from gradviz.diagnose._rules import decide

__all__ = ["Cause", "Verdict", "decide", "note_for"]
