"""Splitting a listening-query expression into tokens, each with its 0-based character position.

Operators are upper-case words (`AND`, `OR`, `NOT`, `NEAR/n`); lower-case `and`/`or`/`not` are ordinary
words, so a query can look for them. `-` directly before a term, phrase, field or `(` is `NOT`.
Phrases are in straight or typographic double quotes (`"…"`, `“…”`, `„…“`, `«…»`).
`name:value` is a field filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from services.listening.queries.language.errors import QuerySyntaxError

__all__ = ["FIELDS", "MAX_LENGTH", "MAX_NEAR", "Kind", "Token", "lex"]

MAX_LENGTH = 2000
MAX_NEAR = 100
FIELDS = ("lang", "platform", "author")
_FIELD_ALIASES = {"language": "lang"}

_QUOTES = '"“”„«»'
_STOP = f"(){_QUOTES}"
_FIELD_RE = re.compile(r"([A-Za-z_]+):(.*)", re.DOTALL)


class Kind(Enum):
    LPAREN = "("
    RPAREN = ")"
    AND = "AND"
    OR = "OR"
    NOT = "NOT"
    NEAR = "NEAR"
    WORD = "word"
    PHRASE = "phrase"
    FIELD = "field"


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token: `text` is the word, the phrase's inside, or the field's value."""

    kind: Kind
    pos: int
    text: str = ""
    field: str = ""
    distance: int = 0
    text_pos: int = 0  # where `text` starts in the expression (phrases and fields)


def lex(expression: str) -> list[Token]:
    """The tokens of `expression`; raises `QuerySyntaxError` on a lexical error."""
    if len(expression) > MAX_LENGTH:
        raise QuerySyntaxError(f"query is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    tokens: list[Token] = []
    i, n = 0, len(expression)
    while i < n:
        ch = expression[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            tokens.append(Token(Kind.LPAREN, i))
            i += 1
        elif ch == ")":
            tokens.append(Token(Kind.RPAREN, i))
            i += 1
        elif ch in _QUOTES:
            end = _closing_quote(expression, i + 1)
            if end < 0:
                raise QuerySyntaxError("unterminated phrase: missing closing quote", i)
            inside = expression[i + 1 : end]
            if not inside.strip():
                raise QuerySyntaxError("empty phrase", i)
            tokens.append(Token(Kind.PHRASE, i, text=inside, text_pos=i + 1))
            i = end + 1
        elif ch == "-" and (i + 1 >= n or expression[i + 1].isspace() or expression[i + 1] == ")"):
            raise QuerySyntaxError("'-' must be directly followed by a term, phrase or '('", i)
        elif ch == "-":
            tokens.append(Token(Kind.NOT, i, text="-"))
            i += 1
        else:
            start = i
            while i < n and expression[i] not in _STOP and not expression[i].isspace():
                i += 1
            tokens.append(_chunk(expression[start:i], start))
    return tokens


def _closing_quote(expression: str, start: int) -> int:
    for j in range(start, len(expression)):
        if expression[j] in _QUOTES:
            return j
    return -1


def _chunk(chunk: str, pos: int) -> Token:
    if chunk in ("AND", "OR", "NOT"):
        return Token(Kind[chunk], pos, text=chunk)
    if chunk == "NEAR" or chunk.startswith("NEAR/"):
        return _near(chunk, pos)
    field = _FIELD_RE.fullmatch(chunk)
    if field is not None:
        name = field.group(1).lower()
        name = _FIELD_ALIASES.get(name, name)
        if name not in FIELDS:
            raise QuerySyntaxError(
                f"unknown field '{field.group(1)}' (known: {', '.join(FIELDS)}); "
                "put text containing ':' in quotes",
                pos,
            )
        value_pos = pos + len(field.group(1)) + 1
        if not field.group(2):
            raise QuerySyntaxError(f"field '{name}' needs a value", value_pos)
        return Token(Kind.FIELD, pos, text=field.group(2), field=name, text_pos=value_pos)
    return Token(Kind.WORD, pos, text=chunk, text_pos=pos)


def _near(chunk: str, pos: int) -> Token:
    if chunk == "NEAR":
        raise QuerySyntaxError("NEAR needs a distance, e.g. NEAR/3", pos)
    digits = chunk[5:]
    if not digits.isascii() or not digits.isdigit():
        raise QuerySyntaxError("NEAR/n needs a whole number of words, e.g. NEAR/3", pos + 5)
    distance = int(digits)
    if distance > MAX_NEAR:
        raise QuerySyntaxError(f"NEAR distance must be between 0 and {MAX_NEAR}", pos + 5)
    return Token(Kind.NEAR, pos, text=chunk, distance=distance)
