"""The version of gradviz: the one place it is written (pyproject.toml reads it; js/package.json and
CHANGELOG.md are checked against it by tests/test_versions.py)."""

__version__ = "0.3.0.dev0"
