# gradviz/runlog/_crcscan.c, compiled with the wheel (hatch_build.py): NOTE [a rolling crc32] in _rolling.py
from typing_extensions import Buffer

def intact_windows(data: Buffer, size: int, /) -> bytes: ...
