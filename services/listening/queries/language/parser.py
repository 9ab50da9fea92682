"""Parsing listening-query expressions into compiled `Query` objects.

Grammar (precedence NOT > AND > OR; NEAR/n binds its two neighbours tighter than NOT)::

    query     := or
    or        := and ("OR" and)*
    and       := unary (["AND"] unary)*        adjacent operands are ANDed
    unary     := ("NOT" | "-")* proximity
    proximity := primary ["NEAR/n" primary]    each side a term, phrase or ( OR of those )
    primary   := "(" or ")" | word | "phrase" | field:value

A word is folded and tokenised like mention text; if it holds several tokens (`e-mail`, `İstanbul'da`,
CJK text) it is matched as a phrase. A trailing `*` makes the last token a prefix (at least two
characters before it). Nesting deeper than 32 parentheses, NEAR chains, and queries that could match on
NOT alone (`NOT spam`, `a OR NOT b`) are rejected.
"""

from __future__ import annotations

import re

from services.listening.queries.language.cost import QueryLimits, check_cost, check_length
from services.listening.queries.language.errors import QuerySyntaxError
from services.listening.queries.language.lexer import Kind, Token, lex
from services.listening.queries.language.matcher import (
    And,
    Field,
    Near,
    Node,
    Not,
    Or,
    Pattern,
    Phrase,
    Query,
    fold_language,
    fold_platform,
)
from services.listening.queries.language.normalise import fold, tokenize

__all__ = ["MAX_DEPTH", "MIN_PREFIX", "compile_query", "parse"]

MAX_DEPTH = 32
MIN_PREFIX = 2
_LANG_RE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")
_PLATFORM_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_AND_END = (None, Kind.RPAREN, Kind.OR)


def compile_query(expression: str, limits: QueryLimits | None = None) -> Query:
    """Compile a listening-query expression; raises `QuerySyntaxError(message, position)`.

    With `limits`, a query over one of them raises `QueryTooExpensive` (a `QuerySyntaxError`) too.
    """
    if limits is not None:
        check_length(expression, limits)
    root = parse(expression)
    if limits is not None:
        check_cost(root, limits)
    return Query(expression, root)


def parse(expression: str) -> Node:
    """The query tree of `expression`."""
    tokens = lex(expression)
    if not tokens:
        raise QuerySyntaxError("empty query", 0)
    parser = _Parser(tokens)
    root = parser.parse_or(0)
    if parser.i < len(tokens):
        stray = tokens[parser.i]
        raise QuerySyntaxError("unbalanced ')': no '(' to close", stray.pos)
    _require_positive(root)
    return root


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def peek_kind(self) -> Kind | None:
        token = self.peek()
        return token.kind if token is not None else None

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _operand_after(self, operator: Token) -> None:
        following = self.peek()
        if following is None or following.kind is Kind.RPAREN:
            raise QuerySyntaxError(f"{operator.text} needs a term after it", operator.pos)
        if following.kind in (Kind.AND, Kind.OR):
            raise QuerySyntaxError(
                f"expected a term after {operator.text}, found {following.text}", following.pos
            )

    def parse_or(self, depth: int) -> Node:
        first = self.parse_and(depth)
        children = [first]
        while self.peek_kind() is Kind.OR:
            self._operand_after(self.take())
            children.append(self.parse_and(depth))
        if len(children) == 1:
            return first
        return Or(_flatten(children, Or), first.pos)

    def parse_and(self, depth: int) -> Node:
        first = self.parse_unary(depth)
        children = [first]
        while self.peek_kind() not in _AND_END:
            if self.peek_kind() is Kind.AND:
                self._operand_after(self.take())
            children.append(self.parse_unary(depth))
        if len(children) == 1:
            return first
        return And(_flatten(children, And), first.pos)

    def parse_unary(self, depth: int) -> Node:
        negations: list[Token] = []
        while self.peek_kind() is Kind.NOT:
            negations.append(self.take())
        if negations:
            self._operand_after(negations[-1])
        node = self.parse_proximity(depth)
        if len(negations) % 2:
            return Not(node, negations[0].pos)
        return node

    def parse_proximity(self, depth: int) -> Node:
        left = self.parse_primary(depth)
        if self.peek_kind() is not Kind.NEAR:
            return left
        near = self.take()
        left_side = _near_side(left)
        following = self.peek()
        if following is None or following.kind in (Kind.RPAREN, Kind.AND, Kind.OR, Kind.NEAR):
            raise QuerySyntaxError("NEAR needs a term or phrase after it", near.pos)
        if following.kind is Kind.NOT:
            raise QuerySyntaxError("NEAR joins terms or phrases; NOT cannot be one side", following.pos)
        right_side = _near_side(self.parse_primary(depth))
        if self.peek_kind() is Kind.NEAR:
            raise QuerySyntaxError(
                "NEAR joins exactly two terms or phrases; use AND between NEARs", self.take().pos
            )
        return Near(left_side, right_side, near.distance, left.pos)

    def parse_primary(self, depth: int) -> Node:
        token = self.take()
        kind = token.kind
        if kind is Kind.LPAREN:
            if depth + 1 > MAX_DEPTH:
                raise QuerySyntaxError(f"parentheses nested deeper than {MAX_DEPTH}", token.pos)
            following = self.peek()
            if following is None:
                raise QuerySyntaxError("unbalanced '(': no ')' closes it", token.pos)
            if following.kind is Kind.RPAREN:
                raise QuerySyntaxError("empty parentheses", token.pos)
            inner = self.parse_or(depth + 1)
            if self.peek_kind() is not Kind.RPAREN:
                raise QuerySyntaxError("unbalanced '(': no ')' closes it", token.pos)
            self.take()
            inner.pos = token.pos
            return inner
        if kind is Kind.WORD:
            return _word(token.text, token.pos)
        if kind is Kind.PHRASE:
            return _phrase(token)
        if kind is Kind.FIELD:
            return _field(token)
        if kind is Kind.RPAREN:
            raise QuerySyntaxError("unbalanced ')': no '(' to close", token.pos)
        if kind is Kind.NEAR:
            raise QuerySyntaxError("NEAR needs a term or phrase before it", token.pos)
        raise QuerySyntaxError(f"{token.text} needs a term before it", token.pos)


def _flatten(children: list[Node], kind: type[And] | type[Or]) -> list[Node]:
    flat: list[Node] = []
    for child in children:
        if type(child) is kind:
            flat.extend(child.children)
        else:
            flat.append(child)
    return flat


def _patterns(chunk: str, pos: int) -> list[Pattern]:
    """The patterns of one whitespace-free chunk of a word or phrase."""
    body, prefix = chunk, False
    if chunk.endswith("*"):
        body, prefix = chunk[:-1], True
    star = body.find("*")
    if star >= 0:
        raise QuerySyntaxError("'*' is only allowed at the end of a word", pos + star)
    tokens = tokenize(fold(body))
    if not tokens:
        raise QuerySyntaxError(f"'{chunk}' has no letters, digits or emoji to match", pos)
    if prefix:
        stem = tokens[-1]
        if len(stem.lstrip("#@")) < MIN_PREFIX or len(tokenize(fold(body[-1]))) != 1:
            raise QuerySyntaxError(
                f"a wildcard needs at least {MIN_PREFIX} letters directly before '*'", pos + len(body)
            )
    patterns = [Pattern(t) for t in tokens]
    if prefix:
        patterns[-1] = Pattern(patterns[-1].text, prefix=True)
    return patterns


def _word(text: str, pos: int) -> Phrase:
    return Phrase(tuple(_patterns(text, pos)), pos)


def _phrase(token: Token) -> Phrase:
    patterns: list[Pattern] = []
    for match in re.finditer(r"\S+", token.text):
        patterns.extend(_patterns(match.group(), token.text_pos + match.start()))
    if not patterns:
        raise QuerySyntaxError("phrase has no letters, digits or emoji to match", token.pos)
    return Phrase(tuple(patterns), token.pos, quoted=True)


def _field(token: Token) -> Field:
    raw, prefix = token.text, False
    if raw.endswith("*"):
        raw, prefix = raw[:-1], True
    if "*" in raw:
        raise QuerySyntaxError("'*' is only allowed at the end of a value", token.text_pos + raw.index("*"))
    if prefix and len(raw) < 1:
        raise QuerySyntaxError("a wildcard value needs at least 1 character before '*'", token.text_pos)
    if token.field == "lang":
        value = fold_language(raw)
        if not prefix and not _LANG_RE.fullmatch(value):
            raise QuerySyntaxError(
                f"'{raw}' is not a language code (e.g. en, tr, hbs, pt-br)", token.text_pos
            )
    elif token.field == "platform":
        value = fold_platform(raw)
        if not _PLATFORM_RE.fullmatch(value):
            raise QuerySyntaxError(f"'{raw}' is not a platform id (e.g. x, meta, mastodon)", token.text_pos)
    else:
        value = fold(raw).lstrip("@")
        if not value:
            raise QuerySyntaxError("author needs a handle", token.text_pos)
    return Field(token.field, value, token.pos, prefix=prefix)


def _near_side(node: Node) -> tuple[Phrase, ...]:
    if isinstance(node, Phrase):
        return (node,)
    if isinstance(node, Or) and all(isinstance(c, Phrase) for c in node.children):
        return tuple(c for c in node.children if isinstance(c, Phrase))
    raise QuerySyntaxError(
        "NEAR joins terms or phrases (or a parenthesised OR of them), not fields, NOT or AND", node.pos
    )


def _require_positive(node: Node) -> None:
    """Reject queries that would match a mention for what it lacks alone (`NOT spam`)."""
    culprit = _negative_culprit(node)
    if culprit is not None:
        raise QuerySyntaxError(
            "this part matches on NOT alone; combine it with a term, e.g. brand NOT spam", culprit.pos
        )


def _negative_culprit(node: Node) -> Node | None:
    if isinstance(node, Not):
        return node
    if isinstance(node, And):
        culprits = [_negative_culprit(c) for c in node.children]
        return None if any(c is None for c in culprits) else node
    if isinstance(node, Or):
        for child in node.children:
            culprit = _negative_culprit(child)
            if culprit is not None:
                return culprit
    return None
