"""Prepared documents and the compiled query tree that matches them.

A mention is folded and tokenised once (`prepare`), then any number of compiled queries test it with
dictionary look-ups: a term is a whole token (never a substring), a phrase is consecutive tokens,
`deliver*` is any token starting with `deliver`. A `#hashtag` token is also indexed as its bare word,
so `nike` matches `#nike` but `#nike` does not match a plain `nike`; `@handle` queries match handles
only, and `@alice` also matches the Mastodon form `@alice@host`.

Phrases are matched on bit sets, one per distinct pattern and document (bit i: token i answers to it),
computed once and kept in the document's memo: a phrase of k patterns is k shifts and ANDs of integers,
not a check of k patterns at every position (`"ab* ab* … ab*"` against a post of thousands of `ab`
tokens was k times n Python calls, seconds of CPU). A document may carry a `deadline` (`time.monotonic()`
value): phrases and NEAR check it and raise `BudgetExceeded` once it has passed; `match_within` checks it
between queries.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from services.listening.queries.language.normalise import fold, token_spans, tokenize
from shared.languages import fold_language

__all__ = [
    "And",
    "BudgetExceeded",
    "Doc",
    "Field",
    "Near",
    "Node",
    "Not",
    "Or",
    "Pattern",
    "Phrase",
    "Query",
    "fold_language",
    "fold_platform",
    "match_within",
    "matching_ids",
    "prepare",
]

Predicate = Callable[["Doc"], bool]

_PLATFORM_ALIASES = {"twitter": "x"}


def fold_platform(name: str) -> str:
    """A platform id in matching form (`Twitter` → `x`)."""
    folded = name.strip().lower()
    return _PLATFORM_ALIASES.get(folded, folded)


def _fold_author(handle: str) -> str:
    return fold(handle.strip()).lstrip("@")


@dataclass(frozen=True, slots=True)
class Doc:
    """A mention prepared for matching: its folded tokens, their positions, and its fields."""

    text: str
    tokens: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]  # what each position answers to (a hashtag also as its word)
    index: Mapping[str, tuple[int, ...]]  # key → positions, ascending
    sorted_keys: tuple[str, ...]  # the keys of `index`, sorted, for prefix look-ups by bisection
    language: str | None = None
    platform: str | None = None
    author: str | None = None
    # When matching must stop (`time.monotonic()`); phrases and NEAR raise `BudgetExceeded` after it.
    deadline: float = math.inf
    # Pattern → bit set of the positions answering to it, filled as queries are matched.
    memo: dict[Pattern, int] = field(default_factory=dict, compare=False, repr=False)


class BudgetExceeded(Exception):
    """Matching a document ran past its deadline."""


def _check_deadline(doc: Doc) -> None:
    if doc.deadline != math.inf and time.monotonic() >= doc.deadline:
        raise BudgetExceeded


def _bits(positions: Iterable[int], size: int) -> int:
    """The positions as a bit set (bit i set: position i)."""
    buffer = bytearray((size >> 3) + 1)
    for p in positions:
        buffer[p >> 3] |= 1 << (p & 7)
    return int.from_bytes(buffer, "little")


def _positions(bits: int) -> list[int]:
    """The set bits of `bits`, ascending."""
    if not bits:
        return []
    digits = bin(bits)[:1:-1]  # least significant first
    found: list[int] = []
    i = digits.find("1")
    while i >= 0:
        found.append(i)
        i = digits.find("1", i + 1)
    return found


# Arabic proclitics, written attached to the word they precede: a conjunction (و، ف), then a preposition
# (ب، ك، ل), then the article (ال; after ل its alef drops: لل). A word is also indexed without them, so
# `التوصيل` and `توصيل` match `والتوصيل`, `بالتوصيل`, `للتوصيل`, as `istanbul` matches `İstanbul'da`.
# What is left must keep 2 letters after the article and 3 after a bare و/ف/ب/ك/ل: most Arabic words
# are 3 letters or more, and shorter rests are mostly a word's own first letter, not a proclitic (a
# query term of 3 letters may still meet one: `نون` is also found in `فنون`).
_ARTICLE = "ال"
_CONJUNCTIONS = "وف"
_PREPOSITIONS = "بكل"
_PROCLITIC_START = frozenset(_CONJUNCTIONS + _PREPOSITIONS + _ARTICLE[0])


def _without_proclitics(word: str) -> tuple[str, ...]:
    """The forms of a folded Arabic word without its proclitics, outermost first (none: empty)."""
    forms: list[str] = []
    rest = word
    if rest[0] in _CONJUNCTIONS and len(rest) > 3:
        rest = rest[1:]
        forms.append(rest)
    if rest[0] in _PREPOSITIONS:
        if rest.startswith("لل") and len(rest) > 3:  # ل + ال, the article's alef dropped
            return (*forms, _ARTICLE + rest[2:], rest[2:])
        if len(rest) > 3:
            rest = rest[1:]
            forms.append(rest)
    if rest.startswith(_ARTICLE) and len(rest) > 3:
        forms.append(rest[2:])
    return tuple(forms)


def _keys(token: str) -> tuple[str, ...]:
    first = token[0]
    if first == "#" and len(token) > 1:
        word = token[1:]
        if word[0] in _PROCLITIC_START:
            return (token, word, *_without_proclitics(word))
        return (token, word)
    if first == "@":
        at = token.find("@", 1)
        if at > 0:
            return (token, token[:at])
    elif first in _PROCLITIC_START:
        return (token, *_without_proclitics(token))
    return (token,)


def prepare(
    text: str,
    *,
    language: str | None = None,
    platform: str | None = None,
    author: str | None = None,
) -> Doc:
    """Fold and tokenise a mention once, so that many queries can match it cheaply."""
    return _indexed(
        text,
        tokenize(fold(text)),
        language=fold_language(language) if language else None,
        platform=fold_platform(platform) if platform else None,
        author=_fold_author(author) if author else None,
    )


def _indexed(
    text: str,
    tokens: list[str],
    *,
    language: str | None = None,
    platform: str | None = None,
    author: str | None = None,
) -> Doc:
    keys = tuple(_keys(t) for t in tokens)
    index: dict[str, list[int]] = {}
    for position, answers in enumerate(keys):
        for key in answers:
            found = index.get(key)
            if found is None:
                index[key] = [position]
            else:
                found.append(position)
    return Doc(
        text=text,
        tokens=tuple(tokens),
        keys=keys,
        index={k: tuple(v) for k, v in index.items()},
        sorted_keys=tuple(sorted(index)),
        language=language,
        platform=platform,
        author=author,
    )


# ---------------------------------------------------------------------------------------------------
# Query tree


@dataclass(frozen=True, slots=True)
class Pattern:
    """One token to find: exact, or a prefix when `prefix` (from `word*`)."""

    text: str
    prefix: bool = False

    def __str__(self) -> str:
        return f"{self.text}*" if self.prefix else self.text

    def at(self, doc: Doc, position: int) -> bool:
        """Whether the token at `position` answers to this pattern."""
        if self.prefix:
            return any(k.startswith(self.text) for k in doc.keys[position])
        return self.text in doc.keys[position]

    def positions(self, doc: Doc) -> Iterable[int]:
        """Every position whose token answers to this pattern, ascending for exact patterns."""
        if not self.prefix:
            return doc.index.get(self.text, ())
        keys, stem = doc.sorted_keys, self.text
        i = bisect_left(keys, stem)
        found: set[int] = set()
        while i < len(keys) and keys[i].startswith(stem):
            found.update(doc.index[keys[i]])
            i += 1
        return sorted(found)

    def mask(self, doc: Doc) -> int:
        """The positions answering to this pattern as a bit set, computed once per document."""
        memo = doc.memo
        bits = memo.get(self)
        if bits is None:
            bits = memo[self] = _bits(self.positions(doc), len(doc.tokens))
        return bits


class Node(ABC):
    """A node of a compiled query; `pos` is where it starts in the expression."""

    pos: int

    @abstractmethod
    def predicate(self) -> Predicate:
        """A function of a prepared document that says whether this node matches it."""

    @abstractmethod
    def render(self) -> str:
        """The node in the normalised query syntax."""

    def lines(self, depth: int) -> list[str]:
        return [f"{'  ' * depth}{self.render()}"]

    def terms(self) -> list[str]:
        """Display forms of the terms and phrases this node needs present (not those under NOT)."""
        return [s.render() for s in self.sequences()]

    def sequences(self) -> list[Phrase]:
        """The terms and phrases a match may contain (not those under NOT)."""
        return []


class Phrase(Node):
    """Consecutive tokens: a one-token term, a multi-token word such as `e-mail`, or a quoted phrase."""

    __slots__ = ("patterns", "pos", "quoted")

    def __init__(self, patterns: tuple[Pattern, ...], pos: int, *, quoted: bool = False) -> None:
        self.patterns = patterns
        self.pos = pos
        self.quoted = quoted

    def render(self) -> str:
        inner = " ".join(str(p) for p in self.patterns)
        return f'"{inner}"' if len(self.patterns) > 1 else inner

    def sequences(self) -> list[Phrase]:
        return [self]

    def starts(self, doc: Doc) -> Iterable[int]:
        """Positions where the whole sequence begins."""
        if len(self.patterns) == 1:
            return self.patterns[0].positions(doc)
        return _positions(self.start_bits(doc))

    def start_bits(self, doc: Doc) -> int:
        """Positions where the whole sequence begins, as a bit set: pattern i's set shifted down by i."""
        _check_deadline(doc)
        patterns = self.patterns
        found = patterns[0].mask(doc)
        for i in range(1, len(patterns)):
            if not found:
                break
            found &= patterns[i].mask(doc) >> i
        return found

    def predicate(self) -> Predicate:
        if len(self.patterns) == 1:
            only = self.patterns[0]
            if not only.prefix:
                key = only.text
                return lambda doc: key in doc.index
            stem = only.text

            def has_prefix(doc: Doc) -> bool:
                keys = doc.sorted_keys
                i = bisect_left(keys, stem)
                return i < len(keys) and keys[i].startswith(stem)

            return has_prefix
        starts = self.start_bits
        # Most mentions lack one of the phrase's words: reject those with dictionary look-ups first.
        needed = tuple({p.text for p in self.patterns if not p.prefix})

        def phrase(doc: Doc) -> bool:
            index = doc.index
            for word in needed:
                if word not in index:
                    return False
            return bool(starts(doc))

        return phrase


class Near(Node):
    """`a NEAR/n b`: a span of each side with at most `n` other words between them, either order."""

    __slots__ = ("distance", "left", "pos", "right")

    def __init__(self, left: tuple[Phrase, ...], right: tuple[Phrase, ...], distance: int, pos: int):
        self.left = left
        self.right = right
        self.distance = distance
        self.pos = pos

    @staticmethod
    def _side(alternatives: tuple[Phrase, ...]) -> str:
        if len(alternatives) == 1:
            return alternatives[0].render()
        return "(" + " OR ".join(a.render() for a in alternatives) + ")"

    def render(self) -> str:
        return f"{self._side(self.left)} NEAR/{self.distance} {self._side(self.right)}"

    def sequences(self) -> list[Phrase]:
        return [*self.left, *self.right]

    @staticmethod
    def _spans(alternatives: tuple[Phrase, ...], doc: Doc) -> list[tuple[int, int]]:
        return [(s, s + len(a.patterns) - 1) for a in alternatives for s in a.starts(doc)]

    def predicate(self) -> Predicate:
        left, right, distance, spans = self.left, self.right, self.distance, self._spans

        def near(doc: Doc) -> bool:
            _check_deadline(doc)
            lefts = spans(left, doc)
            if not lefts:
                return False
            rights = spans(right, doc)
            if not rights:
                return False
            # Bisection keeps long posts with many occurrences linear-logarithmic, not quadratic.
            starts = sorted(start for start, _ in rights)
            ends = sorted(end for _, end in rights)
            for ls, le in lefts:
                i = bisect_left(starts, le + 1)  # a right side starting after this left side ends…
                if i < len(starts) and starts[i] <= le + 1 + distance:
                    return True
                j = bisect_left(ends, ls - 1 - distance)  # …or ending before it starts
                if j < len(ends) and ends[j] <= ls - 1:
                    return True
            return False

        return near


class Field(Node):
    """`lang:xx`, `platform:x` or `author:handle` (a trailing `*` makes the value a prefix)."""

    __slots__ = ("name", "pos", "prefix", "value")

    def __init__(self, name: str, value: str, pos: int, *, prefix: bool = False) -> None:
        self.name = name
        self.value = value
        self.prefix = prefix
        self.pos = pos

    def render(self) -> str:
        return f"{self.name}:{self.value}{'*' if self.prefix else ''}"

    def predicate(self) -> Predicate:
        value, prefix = self.value, self.prefix
        if self.name == "lang":
            if prefix:
                return lambda doc: doc.language is not None and doc.language.startswith(value)
            if "-" in value:
                dashed = value + "-"
                return lambda doc: (
                    doc.language is not None and (doc.language == value or doc.language.startswith(dashed))
                )
            return lambda doc: doc.language is not None and doc.language.split("-", 1)[0] == value
        if self.name == "platform":
            if prefix:
                return lambda doc: doc.platform is not None and doc.platform.startswith(value)
            return lambda doc: doc.platform == value
        if prefix:
            return lambda doc: doc.author is not None and doc.author.startswith(value)
        at_host = value + "@"
        return lambda doc: doc.author is not None and (doc.author == value or doc.author.startswith(at_host))


class Not(Node):
    __slots__ = ("child", "pos")

    def __init__(self, child: Node, pos: int) -> None:
        self.child = child
        self.pos = pos

    def render(self) -> str:
        inner = self.child.render()
        return f"NOT ({inner})" if isinstance(self.child, And | Or) else f"NOT {inner}"

    def lines(self, depth: int) -> list[str]:
        return [f"{'  ' * depth}NOT", *self.child.lines(depth + 1)]

    def predicate(self) -> Predicate:
        child = self.child.predicate()
        return lambda doc: not child(doc)


class _Group(Node):
    """AND or OR over two or more children; a child group of the other kind is parenthesised."""

    __slots__ = ("children", "pos")
    op = ""

    def __init__(self, children: list[Node], pos: int) -> None:
        self.children = children
        self.pos = pos

    def render(self) -> str:
        return f" {self.op} ".join(
            f"({c.render()})" if isinstance(c, _Group) and c.op != self.op else c.render()
            for c in self.children
        )

    def lines(self, depth: int) -> list[str]:
        return [f"{'  ' * depth}{self.op}", *(line for c in self.children for line in c.lines(depth + 1))]

    def sequences(self) -> list[Phrase]:
        return [s for c in self.children for s in c.sequences()]

    def ordered_predicates(self) -> list[Predicate]:
        # Cheap tests first: fields and single terms before phrases, proximity and sub-trees.
        return [c.predicate() for c in sorted(self.children, key=_cost)]


class And(_Group):
    __slots__ = ()
    op = "AND"

    def predicate(self) -> Predicate:
        predicates = self.ordered_predicates()
        if len(predicates) == 2:
            a, b = predicates
            return lambda doc: a(doc) and b(doc)

        def every(doc: Doc) -> bool:
            for p in predicates:
                if not p(doc):
                    return False
            return True

        return every


class Or(_Group):
    __slots__ = ()
    op = "OR"

    def predicate(self) -> Predicate:
        predicates = self.ordered_predicates()
        if len(predicates) == 2:
            a, b = predicates
            return lambda doc: a(doc) or b(doc)

        def some(doc: Doc) -> bool:
            for p in predicates:
                if p(doc):
                    return True
            return False

        return some


def _cost(node: Node) -> int:
    if isinstance(node, Field):
        return 0
    if isinstance(node, Phrase):
        return 1 if len(node.patterns) == 1 and not node.patterns[0].prefix else 2
    if isinstance(node, Not):
        return _cost(node.child) + 1
    return 3


class Query:
    """A compiled listening query: `query.matches(doc)` tells whether a prepared mention matches."""

    __slots__ = ("expression", "matches", "root")

    matches: Predicate

    def __init__(self, expression: str, root: Node) -> None:
        self.expression = expression
        self.root = root
        # The compiled predicate itself, not a method wrapping it: one call less per query and mention.
        self.matches = root.predicate()

    def __str__(self) -> str:
        return self.root.render()

    def __repr__(self) -> str:
        return f"Query({self.root.render()!r})"

    def explain(self) -> str:
        """The normalised query as an indented tree, one node a line."""
        return "\n".join(self.root.lines(0))

    def positive_terms(self) -> tuple[str, ...]:
        """The folded terms and phrases a match may contain (not those under NOT), for highlighting."""
        return tuple(dict.fromkeys(self.root.terms()))

    def highlight(self, text: str) -> list[tuple[int, int]]:
        """[start, end) character spans of `text` holding this query's positive terms, merged, in order.

        Spans cover every occurrence, also where a NEAR pair is too far apart to match: they show why
        a mention matched, not a proof of it.
        """
        spans = token_spans(text)
        doc = _indexed(text, [token for token, _, _ in spans])
        found: list[tuple[int, int]] = []
        for sequence in self.root.sequences():
            width = len(sequence.patterns) - 1
            found.extend((spans[s][1], spans[s + width][2]) for s in sequence.starts(doc))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


def matching_ids(queries: Mapping[str, Query], doc: Doc) -> list[str]:
    """The ids of the queries that match `doc`, in the mapping's order."""
    return [query_id for query_id, query in queries.items() if query.matches(doc)]


def match_within(
    queries: Mapping[str, Query],
    doc: Doc,
    *,
    budget_s: float,
    skip: Callable[[str], bool] | None = None,
    pause: Callable[[], object] | None = None,
) -> tuple[list[str], int]:
    """(ids of the queries matching `doc`, how many queries were decided) within `budget_s` seconds.

    Queries are tried in the mapping's order; `skip(id)` True decides one without matching (False), and
    `pause()` is called between queries (a thread hands the GIL over there). When the budget runs out,
    the count is less than `len(queries)`: the queries after it are undecided.
    """
    doc = replace(doc, deadline=time.monotonic() + budget_s, memo={})
    matched: list[str] = []
    decided = 0
    try:
        for query_id, query in queries.items():
            if pause is not None and decided:
                pause()
            _check_deadline(doc)
            if (skip is None or not skip(query_id)) and query.matches(doc):
                matched.append(query_id)
            decided += 1
    except BudgetExceeded:
        pass
    return matched, decided
