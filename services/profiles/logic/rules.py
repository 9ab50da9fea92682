"""The segment rule language: a small boolean language over profile fields.

Grammar (precedence NOT > AND > OR; keywords in any case)::

    rule       := or
    or         := and ("OR" and)*
    and        := unary ("AND" unary)*
    unary      := "NOT" unary | primary
    primary    := "(" or ")" | comparison
    comparison := field op value             op: = != < <= > >=
                | field ["NOT"] "IN" "(" value ("," value)* ")"
                | field "HAS" value           tags, languages
                | field                       a boolean field alone: `at_risk`, `NOT at_risk`
    value      := "quoted" | 'quoted' | number | true | false | bare-word

Fields: `lifecycle` (alias `lifecycle_stage`: stranger, fan, lead, customer, advocate), `at_risk`,
`sentiment_trend`, `influence`, `followers`, `mention_count`, `order_count`, `lifetime_value.<CUR>`
(a number in that currency), `languages` and `tags` (`has` only), `first_seen_at` and `last_seen_at` (ISO
dates or times, UTC when no offset is given), `attributes.<name>` (a custom attribute, typed by its
definition). A rule compiles once into a Python predicate over a profile row (the truth) and, where the
fields are plain columns, a SQL condition that narrows the initial fill (a superset of the members).
Nothing in a rule is ever evaluated as code.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.sql import operators as sql_ops

from services.profiles.logic.tags import normalise_tag
from services.profiles.models import Profile

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "STAGES", "CompiledRule", "RuleError", "compile_rule"]

MAX_LENGTH = 2000
MAX_DEPTH = 32
MAX_IN_VALUES = 100
STAGES = ("stranger", "fan", "lead", "customer", "advocate")

_P = Profile.__table__  # type: ignore[attr-defined]
Predicate = Callable[[Any], bool]


class RuleError(ValueError):
    """A malformed rule; `position` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position

    def pointer(self, rule: str) -> str:
        """The rule with a caret under the error, for humans."""
        line = rule.replace("\n", " ").replace("\t", " ")
        return f"{line}\n{' ' * self.position}^"


# --- lexer -----------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<word>[A-Za-z0-9_.:+\-]+)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "has"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # op lparen rparen comma string word keyword end
    text: str
    pos: int


def _lex(rule: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(rule):
        match = _TOKEN.match(rule, pos)
        if match is None:
            raise RuleError(f"unexpected character {rule[pos]!r}", pos)
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        elif kind == "word" and text.lower() in _KEYWORDS:
            kind, text = "keyword", text.lower()
        if kind != "space":
            tokens.append(_Tok(kind, text, pos))
        pos = match.end()
    tokens.append(_Tok("end", "", len(rule)))
    return tokens


# --- fields ----------------------------------------------------------------------------------------

# name -> (type, column name); types: number, boolean, stage, list, datetime
_FIELDS: dict[str, tuple[str, str]] = {
    "lifecycle": ("stage", "lifecycle_stage"),
    "lifecycle_stage": ("stage", "lifecycle_stage"),
    "at_risk": ("boolean", "at_risk"),
    "sentiment_trend": ("number", "sentiment_trend"),
    "influence": ("number", "influence"),
    "followers": ("number", "followers"),
    "mention_count": ("number", "mention_count"),
    "order_count": ("number", "order_count"),
    "languages": ("list", "languages"),
    "tags": ("list", "tags"),
    "first_seen_at": ("datetime", "first_seen_at"),
    "last_seen_at": ("datetime", "last_seen_at"),
}
_CURRENCY = re.compile(r"[A-Z]{3}")
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class _Field:
    type: str  # number boolean stage list datetime string date enum
    getter: Callable[[Any], Any]
    column: Any = None  # a plain column of `profile`, else None (JSON: predicate only)
    options: tuple[str, ...] = ()


def _attribute_getter(name: str) -> Callable[[Any], Any]:
    def get(row: Any) -> Any:
        attributes = row.attributes or {}
        return attributes.get(name)

    return get


def _ltv_getter(currency: str) -> Callable[[Any], Any]:
    def get(row: Any) -> Any:
        value = (row.lifetime_value or {}).get(currency)
        return None if value is None else Decimal(value)

    return get


def _field(tok: _Tok, attributes: Mapping[str, tuple[str, tuple[str, ...]]] | None) -> _Field:
    name = tok.text
    if name in _FIELDS:
        type_, column = _FIELDS[name]
        return _Field(type_, _column_getter(column), _P.c[column])
    if name.startswith("lifetime_value."):
        currency = name.removeprefix("lifetime_value.")
        if not _CURRENCY.fullmatch(currency):
            raise RuleError("a lifetime value is named by its ISO 4217 code (lifetime_value.EUR)", tok.pos)
        return _Field("decimal", _ltv_getter(currency))
    if name.startswith("attributes."):
        attribute = name.removeprefix("attributes.")
        if not _ATTRIBUTE.fullmatch(attribute):
            raise RuleError(f"{attribute!r} is not an attribute name", tok.pos)
        if attributes is None:
            return _Field("any", _attribute_getter(attribute))
        if attribute not in attributes:
            raise RuleError(f"the attribute {attribute!r} is not defined", tok.pos)
        type_, options = attributes[attribute]
        return _Field(type_, _attribute_getter(attribute), options=options)
    raise RuleError(f"unknown field {name!r}", tok.pos)


def _column_getter(column: str) -> Callable[[Any], Any]:
    return operator.attrgetter(column)


def _datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _value(field: _Field, tok: _Tok) -> Any:
    """The literal `tok` as a value of `field`'s type, or a `RuleError`."""
    if tok.kind not in ("string", "word"):
        raise RuleError("expected a value", tok.pos)
    text = tok.text
    bare = tok.kind == "word"
    type_ = field.type
    if type_ in ("number", "decimal"):
        if not bare or not _NUMBER.fullmatch(text):
            raise RuleError(f"expected a number, not {text!r}", tok.pos)
        return Decimal(text) if type_ == "decimal" else float(text)
    if type_ == "boolean":
        if not bare or text.lower() not in ("true", "false"):
            raise RuleError("expected true or false", tok.pos)
        return text.lower() == "true"
    if type_ == "stage":
        if text.lower() not in STAGES:
            raise RuleError(f"expected a lifecycle stage ({', '.join(STAGES)})", tok.pos)
        return text.lower()
    if type_ == "datetime":
        try:
            return _datetime(text)
        except ValueError:
            raise RuleError(f"expected an ISO date or time, not {text!r}", tok.pos) from None
    if type_ == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise RuleError(f"expected an ISO date (YYYY-MM-DD), not {text!r}", tok.pos) from None
    if type_ == "enum":
        if text not in field.options:
            raise RuleError(f"expected one of {', '.join(field.options)}", tok.pos)
        return text
    if type_ == "list":
        return normalise_tag(text)
    if type_ == "any" and bare:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        if _NUMBER.fullmatch(text):
            return float(text)
    return text  # string (and any: a quoted literal or a bare word)


# --- comparisons -------------------------------------------------------------------------------------

_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SQL_OPS = {
    "=": sql_ops.eq,
    "!=": sql_ops.ne,
    "<": sql_ops.lt,
    "<=": sql_ops.le,
    ">": sql_ops.gt,
    ">=": sql_ops.ge,
}
_ORDERED = {"number", "decimal", "datetime", "date", "string", "any"}


def _comparable(actual: Any, expected: Any) -> bool:
    """Whether a profile's value can be compared with the literal (a missing value never matches)."""
    if actual is None:
        return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool)
    if isinstance(expected, (int, float, Decimal)):
        return isinstance(actual, (int, float, Decimal))
    return isinstance(actual, type(expected))


def _compare(field: _Field, op: str, expected: Any) -> Predicate:
    get, test = field.getter, _PY_OPS[op]
    if field.column is not None:
        # A plain column holds its type or NULL: no checks beyond NULL (the hot path of refreshes).
        def on_column(row: Any) -> bool:
            actual = get(row)
            return actual is not None and bool(test(actual, expected))

        return on_column

    def predicate(row: Any) -> bool:
        actual = get(row)
        if isinstance(actual, Decimal) and isinstance(expected, float):
            actual = float(actual)
        if not _comparable(actual, expected):
            return False
        try:
            return bool(test(actual, expected))
        except TypeError:
            return False

    return predicate


# --- parser ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    """A parsed rule: `matches(row)` decides membership; `where` (or None) narrows a scan of `profile` to
    a superset of the members (the predicate still decides)."""

    rule: str
    matches: Predicate
    where: ColumnElement[bool] | None


# A node: (predicate, sql condition or None, whether the condition is exact)
_Node = tuple[Predicate, ColumnElement[bool] | None, bool]


class _Parser:
    def __init__(self, rule: str, attributes: Mapping[str, tuple[str, tuple[str, ...]]] | None) -> None:
        self.tokens = _lex(rule)
        self.i = 0
        self.attributes = attributes

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        if self.tok.kind == "keyword" and self.tok.text == word:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, what: str) -> _Tok:
        if self.tok.kind != kind:
            raise RuleError(f"expected {what}", self.tok.pos)
        return self.take()

    def parse(self) -> _Node:
        if self.tok.kind == "end":
            raise RuleError("the rule is empty", 0)
        node = self.or_(0)
        if self.tok.kind != "end":
            raise RuleError(f"unexpected {self.tok.text!r}", self.tok.pos)
        return node

    def or_(self, depth: int) -> _Node:
        nodes = [self.and_(depth)]
        while self.keyword("or"):
            nodes.append(self.and_(depth))
        if len(nodes) == 1:
            return nodes[0]
        preds = [n[0] for n in nodes]
        clauses = [n[1] for n in nodes]
        where = None if any(c is None for c in clauses) else or_(*clauses)  # type: ignore[arg-type]
        return (lambda row: any(p(row) for p in preds)), where, all(n[2] for n in nodes)

    def and_(self, depth: int) -> _Node:
        nodes = [self.unary(depth)]
        while self.keyword("and"):
            nodes.append(self.unary(depth))
        if len(nodes) == 1:
            return nodes[0]
        preds = [n[0] for n in nodes]
        # The known conditions narrow the scan even when some part is left to the predicate.
        clauses = [n[1] for n in nodes if n[1] is not None]
        where = and_(*clauses) if clauses else None
        exact = len(clauses) == len(nodes) and all(n[2] for n in nodes)
        return (lambda row: all(p(row) for p in preds)), where, exact

    def unary(self, depth: int) -> _Node:
        if depth > MAX_DEPTH:
            raise RuleError(f"the rule nests deeper than {MAX_DEPTH}", self.tok.pos)
        if self.keyword("not"):
            pred = self.unary(depth + 1)[0]
            # NOT of a narrowing (inexact) condition narrows nothing; of an exact one it is exact, but
            # NULLs (followers unknown) differ in SQL: left to the predicate.
            return (lambda row: not pred(row)), None, False
        if self.tok.kind == "lparen":
            self.take()
            node = self.or_(depth + 1)
            self.expect("rparen", "')'")
            return node
        return self.comparison()

    def comparison(self) -> _Node:
        tok = self.tok
        if tok.kind != "word":
            raise RuleError("expected a field", tok.pos)
        self.take()
        field = _field(tok, self.attributes)
        if self.tok.kind == "op":
            op = self.take().text
            if op not in ("=", "!=") and field.type not in _ORDERED:
                raise RuleError(f"{tok.text} can only be compared with = or !=", self.tokens[self.i - 1].pos)
            if field.type == "list":
                raise RuleError(
                    f"{tok.text} is a list: use `{tok.text} has value`", self.tokens[self.i - 1].pos
                )
            expected = _value(field, self.take_value())
            where = None
            if field.column is not None and field.type != "datetime":
                where = _SQL_OPS[op](field.column, expected)
            return _compare(field, op, expected), where, where is not None
        negated = False
        if self.tok.kind == "keyword" and self.tok.text == "not":
            # `field NOT IN (...)`
            self.take()
            negated = True
            if not (self.tok.kind == "keyword" and self.tok.text == "in"):
                raise RuleError("expected IN after NOT", self.tok.pos)
        if self.keyword("in"):
            self.expect("lparen", "'(' after IN")
            values = [_value(field, self.take_value())]
            while self.tok.kind == "comma":
                self.take()
                values.append(_value(field, self.take_value()))
                if len(values) > MAX_IN_VALUES:
                    raise RuleError(f"IN takes at most {MAX_IN_VALUES} values", self.tok.pos)
            self.expect("rparen", "')' or ','")
            return self._in(field, values, negated)
        if self.keyword("has"):
            if field.type != "list":
                raise RuleError("HAS applies to tags and languages", self.tokens[self.i - 1].pos)
            wanted = _value(field, self.take_value())
            get = field.getter

            def has(row: Any) -> bool:
                return wanted in [str(v).casefold() for v in (get(row) or [])]

            return has, None, False
        if field.type in ("boolean", "any") and self.tok.kind in ("end", "rparen", "keyword"):
            where = field.column.is_(True) if field.column is not None else None
            return _compare(field, "=", True), where, where is not None
        raise RuleError(f"expected an operator after {tok.text}", self.tok.pos)

    def _in(self, field: _Field, values: list[Any], negated: bool) -> _Node:
        if field.type == "list":
            raise RuleError(f"{field.type} fields take HAS, not IN", self.tok.pos)
        tests = [_compare(field, "=", value) for value in values]

        def within(row: Any) -> bool:
            return any(test(row) for test in tests)

        if negated:
            return (lambda row: not within(row)), None, False
        where = None
        if field.column is not None and field.type != "datetime":
            where = field.column.in_(values)
        return within, where, where is not None

    def take_value(self) -> _Tok:
        tok = self.tok
        if tok.kind not in ("string", "word"):
            raise RuleError("expected a value", tok.pos)
        return self.take()


def compile_rule(
    rule: str, attributes: Mapping[str, tuple[str, tuple[str, ...]]] | None = None
) -> CompiledRule:
    """Compile a rule; raises `RuleError(message, position)`.

    `attributes` ({name: (type, enum options)}) checks `attributes.<name>` against the tenant's definitions
    and types its literals; without it (re-evaluating a stored rule) they compare by the literal's kind.
    """
    if len(rule) > MAX_LENGTH:
        raise RuleError(f"the rule is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    pred, where, _ = _Parser(rule, attributes).parse()
    return CompiledRule(rule=rule, matches=pred, where=where)
