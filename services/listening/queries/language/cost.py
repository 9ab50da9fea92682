"""What a compiled query may cost: limits checked when a query is written, not when it runs.

Matching cost grows with the number of patterns to look up (every token of every term and phrase), the
wildcards among them (a prefix is a scan of the post's sorted tokens), the length of a phrase (one bit-set
shift per token), the NEAR distance and the size of the tree. `check_cost` walks a parsed query and raises
`QueryTooExpensive` naming the first limit it crosses and where; the grammar's own bounds (`lexer`,
`parser`) still apply to every query, so stored queries written under older limits keep compiling.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.listening.queries.language.errors import QuerySyntaxError
from services.listening.queries.language.matcher import And, Field, Near, Node, Not, Or, Phrase

__all__ = ["QueryLimits", "QueryTooExpensive", "check_cost", "check_length"]


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Upper bounds on a query's cost; each field is named after the setting that sets it."""

    max_length: int = 2000  # characters of the expression
    max_terms: int = 150  # patterns (tokens of terms and phrases) in the whole query
    max_wildcards: int = 25  # `word*` patterns in the whole query
    min_prefix: int = 2  # letters before a `*`
    max_phrase_terms: int = 16  # tokens of one phrase (or one multi-token word)
    max_near: int = 50  # n of NEAR/n
    max_nodes: int = 300  # terms, phrases, fields and operators


class QueryTooExpensive(QuerySyntaxError):
    """A well-formed query over one of the cost limits; `limit` is the setting's name."""

    def __init__(self, message: str, position: int, *, limit: str, maximum: int) -> None:
        super().__init__(message, position)
        self.limit = limit
        self.maximum = maximum


def check_length(expression: str, limits: QueryLimits) -> None:
    """Refuse an expression longer than `limits.max_length` (before parsing it)."""
    if len(expression) > limits.max_length:
        raise QueryTooExpensive(
            f"query is {len(expression)} characters long; at most {limits.max_length} are allowed",
            limits.max_length,
            limit="query_max_length",
            maximum=limits.max_length,
        )


class _Tally:
    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits
        self.nodes = 0
        self.terms = 0
        self.wildcards = 0

    def node(self, node: Node) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise QueryTooExpensive(
                f"query has more than {self.limits.max_nodes} terms, phrases, fields and operators",
                node.pos,
                limit="query_max_nodes",
                maximum=self.limits.max_nodes,
            )

    def phrase(self, phrase: Phrase) -> None:
        limits = self.limits
        self.node(phrase)
        wildcards = [p for p in phrase.patterns if p.prefix]
        for pattern in wildcards:
            if len(pattern.text.lstrip("#@")) < limits.min_prefix:
                raise QueryTooExpensive(
                    f"a wildcard needs at least {limits.min_prefix} letters before '*' ('{pattern}')",
                    phrase.pos,
                    limit="query_min_prefix",
                    maximum=limits.min_prefix,
                )
        self.wildcards += len(wildcards)
        if self.wildcards > limits.max_wildcards:
            raise QueryTooExpensive(
                f"query has more than {limits.max_wildcards} wildcard terms (word*)",
                phrase.pos,
                limit="query_max_wildcards",
                maximum=limits.max_wildcards,
            )
        if len(phrase.patterns) > limits.max_phrase_terms:
            raise QueryTooExpensive(
                f"a phrase of {len(phrase.patterns)} words; at most {limits.max_phrase_terms} are allowed",
                phrase.pos,
                limit="query_max_phrase_terms",
                maximum=limits.max_phrase_terms,
            )
        self.terms += len(phrase.patterns)
        if self.terms > limits.max_terms:
            raise QueryTooExpensive(
                f"query has more than {limits.max_terms} words in its terms and phrases",
                phrase.pos,
                limit="query_max_terms",
                maximum=limits.max_terms,
            )

    def walk(self, node: Node) -> None:
        if isinstance(node, Phrase):
            self.phrase(node)
        elif isinstance(node, Near):
            self.node(node)
            if node.distance > self.limits.max_near:
                raise QueryTooExpensive(
                    f"NEAR/{node.distance} spans too far; at most NEAR/{self.limits.max_near} is allowed",
                    node.pos,
                    limit="query_max_near",
                    maximum=self.limits.max_near,
                )
            for side in (*node.left, *node.right):
                self.phrase(side)
        elif isinstance(node, Not):
            self.node(node)
            self.walk(node.child)
        elif isinstance(node, And | Or):
            self.node(node)
            for child in node.children:
                self.walk(child)
        elif isinstance(node, Field):
            self.node(node)


def check_cost(root: Node, limits: QueryLimits) -> None:
    """Raise `QueryTooExpensive` for the first limit the parsed query `root` crosses."""
    _Tally(limits).walk(root)
