"""The verdict rules: captured plain records in, one Verdict per parameter out (``decide``), and the note
added to an exception raised inside a trace (``note_for``). Pure functions, no torch objects, no hooks;
depends only on the ground floor (``gradviz.records``).

- ``_rules``: which cause, in the order a person should fix things; the evidence for it (``_evidence``).
- ``_messages``, ``_cut_messages``, ``_error_messages``, ``_values``: one plain sentence of what happened and
  one of what to do, per cause (``_cut_messages``: a path cut, a tensor kept out of training on purpose;
  ``_error_messages``: an error raised).
- ``_paths``: why a gradient came out exactly zero, read from the recorded graph.
- ``_notes``: the exception note.
- ``_whatif``: what one cut alone keeps from learning (``without``).
"""

from gradviz.verdicts._notes import note_for
from gradviz.verdicts._rules import decide
from gradviz.verdicts._whatif import removable, without

__all__ = ["decide", "note_for", "removable", "without"]
