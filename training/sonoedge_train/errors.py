"""Typed errors. Every error names what was wrong, what was expected and what was received."""


class SonoedgeError(Exception):
    """Base class: `code` is a stable machine-readable string, `path` the file concerned (if any)."""

    def __init__(self, code: str, message: str, path=None):
        self.code = code
        self.path = None if path is None else str(path)
        super().__init__(f"{code}: {message}")
        self.message = message


class ConfigError(SonoedgeError):
    pass


class DatasetError(SonoedgeError):
    pass


class CheckpointError(SonoedgeError):
    pass
