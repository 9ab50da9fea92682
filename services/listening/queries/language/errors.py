"""The one error of the listening query language."""

from __future__ import annotations

__all__ = ["QuerySyntaxError"]


class QuerySyntaxError(ValueError):
    """A malformed listening query; `position` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position

    def pointer(self, expression: str) -> str:
        """The expression with a caret under the error, for humans."""
        line = expression.replace("\n", " ").replace("\t", " ")
        return f"{line}\n{' ' * self.position}^"
