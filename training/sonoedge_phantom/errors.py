"""Typed errors of the generator: a stable `code` and a message naming what was wrong, expected and received."""


class PhantomError(Exception):
    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")
