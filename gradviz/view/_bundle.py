"""Where the built front-end bundle lives (``gradviz/static/widget.js``, built from ``js/`` at install)."""

from __future__ import annotations

import pathlib

__all__ = ["bundle_path"]


def bundle_path() -> pathlib.Path:
    """Path of the built front-end bundle; raises ``FileNotFoundError`` saying how to build it."""
    path = pathlib.Path(__file__).parent.parent / "static" / "widget.js"
    if not path.is_file():
        raise FileNotFoundError(
            f"gradviz's front-end bundle is missing ({path}). "
            "Build it with `npm --prefix js run build` from the source tree, or reinstall gradviz."
        )
    return path
