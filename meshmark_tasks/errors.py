"""Typed errors. Each message names the file, field or cell it is about."""


class MeshmarkError(Exception):
    """Base of every error this package raises on bad input."""


class ProfileError(MeshmarkError):
    """A profile file or override is invalid."""


class ResultParseError(MeshmarkError):
    """A load-generator output cannot be read into a normalized result."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class StoreError(MeshmarkError):
    """The Parquet store was handed data it cannot write."""
