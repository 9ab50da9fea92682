"""Malformed listening queries raise QuerySyntaxError pointing at the 0-based position of the problem."""

from __future__ import annotations

import random

import pytest

from services.listening.queries.language import QuerySyntaxError, compile_query


@pytest.mark.parametrize(
    ("expression", "position", "message"),
    [
        # empty
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        # unbalanced parentheses
        ("(nike", 0, "unbalanced '('"),
        ("a (b OR c", 2, "unbalanced '('"),
        ("((a)", 0, "unbalanced '('"),
        ("nike)", 4, "unbalanced ')'"),
        ("(a) b) c", 5, "unbalanced ')'"),
        (")", 0, "unbalanced ')'"),
        ("()", 0, "empty parentheses"),
        ("nike ( )", 5, "empty parentheses"),
        # dangling or doubled operators
        ("nike AND", 5, "AND needs a term after it"),
        ("nike OR", 5, "OR needs a term after it"),
        ("nike NOT", 5, "NOT needs a term after it"),
        ("NOT", 0, "NOT needs a term after it"),
        ("AND nike", 0, "AND needs a term before it"),
        ("OR nike", 0, "OR needs a term before it"),
        ("nike OR OR adidas", 8, "expected a term after OR, found OR"),
        ("nike AND OR adidas", 9, "expected a term after AND, found OR"),
        ("(nike OR) adidas", 6, "OR needs a term after it"),
        ("nike NOT AND adidas", 9, "expected a term after NOT, found AND"),
        ("nike - adidas", 5, "'-' must be directly followed"),
        ("nike -", 5, "'-' must be directly followed"),
        # phrases
        ('""', 0, "empty phrase"),
        ('nike "  "', 5, "empty phrase"),
        ('nike "air max', 5, "unterminated phrase"),
        ('nike "air" "max', 11, "unterminated phrase"),
        ('"a !!!"', 3, "'!!!' has no letters"),
        # NEAR/n
        ("a NEAR b", 2, "NEAR needs a distance"),
        ("a NEAR/x b", 7, "NEAR/n needs a whole number"),
        ("a NEAR/ b", 7, "NEAR/n needs a whole number"),
        ("a NEAR/-1 b", 7, "NEAR/n needs a whole number"),
        ("a NEAR/2.5 b", 7, "NEAR/n needs a whole number"),
        ("a NEAR/101 b", 7, "between 0 and 100"),
        ("NEAR/3 b", 0, "NEAR needs a term or phrase before it"),
        ("a NEAR/3", 2, "NEAR needs a term or phrase after it"),
        ("a NEAR/3 )", 2, "NEAR needs a term or phrase after it"),
        ("a NEAR/3 b NEAR/3 c", 11, "NEAR joins exactly two"),
        ("lang:en NEAR/3 b", 0, "NEAR joins terms or phrases"),
        ("a NEAR/3 (b AND c)", 9, "NEAR joins terms or phrases"),
        ("a NEAR/3 (b OR lang:en)", 9, "NEAR joins terms or phrases"),
        ("a NEAR/3 NOT b", 9, "NOT cannot be one side"),
        # fields
        ("foo:bar", 0, "unknown field 'foo'"),
        ("nike http://example.com", 5, "unknown field 'http'"),
        ("nike lang:", 10, "field 'lang' needs a value"),
        ("nike lang:english", 10, "not a language code"),
        ("nike lang:e", 10, "not a language code"),
        ("nike platform:@@", 14, "not a platform id"),
        ("nike author:@", 12, "author needs a handle"),
        ("nike lang:e*n", 11, "'*' is only allowed at the end of a value"),
        # wildcards
        ("de*ivery", 2, "'*' is only allowed at the end of a word"),
        ("*nike", 0, "'*' is only allowed at the end of a word"),
        ("**", 0, "'*' is only allowed at the end of a word"),
        ("nike d*", 6, "at least 2 letters"),
        ("#n*", 2, "at least 2 letters"),
        ("air-*", 4, "at least 2 letters"),
        ('"free d*"', 7, "at least 2 letters"),
        # terms with nothing to match
        ("nike !!!", 5, "'!!!' has no letters"),
        ("nike &", 5, "'&' has no letters"),
        # queries that would match on NOT alone
        ("NOT spam", 0, "matches on NOT alone"),
        ("-spam", 0, "matches on NOT alone"),
        ("a OR NOT b", 5, "matches on NOT alone"),
        ("NOT a NOT b", 0, "matches on NOT alone"),
        ("(NOT a) OR b", 0, "matches on NOT alone"),
        ("nike OR (-a -b)", 8, "matches on NOT alone"),
    ],
)
def test_error_points_at_its_position(expression: str, position: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query(expression)
    assert caught.value.position == position, caught.value
    assert message in caught.value.message
    assert f"position {position}" in str(caught.value)


def test_too_long_expression() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query("nike " * 400 + "x")
    assert caught.value.position == 2000
    assert compile_query(("nike " * 400)[:2000])


def test_nesting_deeper_than_32() -> None:
    assert compile_query("(" * 32 + "nike" + ")" * 32).matches is not None
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query("(" * 33 + "nike" + ")" * 33)
    assert caught.value.position == 32
    assert "deeper than 32" in caught.value.message


def test_long_not_chain_is_not_a_recursion_error() -> None:
    assert str(compile_query("nike " + "NOT " * 400 + "spam")) == "nike AND spam"


def test_pointer_marks_the_position() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query("nike OR OR adidas")
    assert caught.value.pointer("nike OR OR adidas") == "nike OR OR adidas\n        ^"


def test_random_expressions_raise_only_query_syntax_errors_inside_the_text() -> None:
    rng = random.Random(20261123)
    pieces = [*'( ) " AND OR NOT NEAR/2 NEAR - * a b* lang: lang:en #x @y İ ß ! author:z'.split(), " "]
    compiled = 0
    for _ in range(3000):
        expression = "".join(rng.choice(pieces) + rng.choice(["", " "]) for _ in range(rng.randrange(1, 12)))
        try:
            compile_query(expression)
            compiled += 1
        except QuerySyntaxError as error:
            assert 0 <= error.position <= len(expression), (expression, error)
    assert compiled > 100
