"""Typed errors. Each message names the file, field or cell it is about."""


class MeshmarkError(Exception):
    """Base of every error this package raises on bad input."""


class ConfigError(MeshmarkError):
    """A deployment setting (an environment variable) holds a value that cannot be used."""


class InputFileError(MeshmarkError):
    """An input file is unreadable, too large, not UTF-8, or not a well-formed JSON/YAML document."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class ProfileError(MeshmarkError):
    """A profile file or override is invalid."""


class ResultParseError(InputFileError):
    """A load-generator output cannot be read into a normalized result."""


class StoreError(MeshmarkError):
    """The Parquet store was handed data it cannot write."""
