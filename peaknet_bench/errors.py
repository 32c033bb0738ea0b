"""One error type for bad user input, so the CLI can print it without a traceback."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: names the file, the place in it (line, dataset, field) and what was expected."""

    def __init__(self, source: str | None, where: str | None, message: str) -> None:
        self.source = source
        self.where = where
        self.message = message
        parts = [p for p in (source, where) if p]
        prefix = ": ".join(str(p) for p in parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
