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


class PackageError(SonoedgeError):
    """A model package failed verification. `where`: the file (relative to the package) or, for E_PACKAGE_SCHEMA,
    the JSON pointer of the offending manifest field."""

    def __init__(self, code: str, message: str, where: str, path=None):
        super().__init__(code, message, path)
        self.where = where


class SigningError(SonoedgeError):
    pass


class ExportError(SonoedgeError):
    pass


class BudgetError(SonoedgeError):
    """A compressed variant lost more accuracy than its budget allows; `numbers` holds the comparison."""

    def __init__(self, code: str, message: str, numbers: dict, path=None):
        super().__init__(code, message, path)
        self.numbers = numbers
