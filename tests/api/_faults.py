"""Fault injection for the fail-safe tests (test_failsafe.py, test_failsafe_watch.py)."""

from __future__ import annotations


class Boom(Exception):
    """gradviz's own (injected) error."""


def fails_once(monkeypatch, owner, name: str, *, after: int = 0) -> None:
    """Make ``owner.name`` raise Boom on its ``after``-th call (0: the first), then behave."""
    real = getattr(owner, name)
    calls = {"n": 0}

    def broken(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == after + 1:
            raise Boom(f"injected into {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, broken)
