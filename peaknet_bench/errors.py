"""One error type for bad user input, so the CLI can print it without a traceback."""

from __future__ import annotations


MAX_PART_CHARS = 2000  # a 50 MB value quoted in a message must not flood a terminal or a log


def shorten(text: str, limit: int = MAX_PART_CHARS) -> str:
    """`text`, or its head and tail with the number of characters left out between them."""
    text = str(text)
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 3 // 4], text[-(limit // 4):]
    return f"{head} …[{len(text) - len(head) - len(tail)} characters not shown]… {tail}"


class InputError(ValueError):
    """Bad input: names the file, the place in it (line, dataset, field) and what was expected.

    Each part is shortened to `MAX_PART_CHARS` (head and tail kept): messages quote the
    offending value, which may be megabytes long."""

    def __init__(self, source: str | None, where: str | None, message: str) -> None:
        source = None if source is None else shorten(source)
        where = None if where is None else shorten(where)
        message = shorten(message, 4 * MAX_PART_CHARS)
        self.source = source
        self.where = where
        self.message = message
        parts = [p for p in (source, where) if p]
        prefix = ": ".join(str(p) for p in parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def __reduce__(self):
        # Pickle by the three parts: the default (one formatted message) cannot rebuild this
        # exception, so Ray would report "Failed to deserialize exception" instead of it.
        return (type(self), (self.source, self.where, self.message))
