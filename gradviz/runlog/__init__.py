"""A watched run on disk: the format (``_format``), its writer (``_writer``), the header and graph checks
(``_header``) and the reader (``_reader``). Depends only on the ground floor (``gradviz.records``)."""

from gradviz.runlog._format import rank_dir
from gradviz.runlog._reader import RunReader
from gradviz.runlog._writer import LoggedSteps, RunWriter

__all__ = ["LoggedSteps", "RunReader", "RunWriter", "rank_dir"]
