"""The listening query language: boolean queries over mentions, matched accent- and case-insensitively.

    query = compile_query('(kargo OR teslimat) AND gecik* NOT "iade edildi" lang:tr')
    doc = prepare(text, language="tr", platform="x", author="ayse")   # once per mention
    query.matches(doc)

Pure and I/O-free; see `parser` for the grammar and `normalise` for the folding rules.
"""

from services.listening.queries.language.cost import QueryLimits, QueryTooExpensive
from services.listening.queries.language.errors import QuerySyntaxError
from services.listening.queries.language.matcher import (
    BudgetExceeded,
    Doc,
    Query,
    match_within,
    matching_ids,
    prepare,
)
from services.listening.queries.language.normalise import fold, fold_tokens, tokenize
from services.listening.queries.language.parser import compile_query

__all__ = [
    "BudgetExceeded",
    "Doc",
    "Query",
    "QueryLimits",
    "QuerySyntaxError",
    "QueryTooExpensive",
    "compile_query",
    "fold",
    "fold_tokens",
    "match_within",
    "matching_ids",
    "prepare",
    "tokenize",
]
