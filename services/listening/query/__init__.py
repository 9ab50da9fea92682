"""The listening query language: boolean queries over mentions, matched accent- and case-insensitively.

    query = compile_query('(kargo OR teslimat) AND gecik* NOT "iade edildi" lang:tr')
    doc = prepare(text, language="tr", platform="x", author="ayse")   # once per mention
    query.matches(doc)

Pure and I/O-free; see `parser` for the grammar and `normalise` for the folding rules.
"""

from services.listening.query.cost import QueryLimits, QueryTooExpensive
from services.listening.query.errors import QuerySyntaxError
from services.listening.query.matcher import BudgetExceeded, Doc, Query, match_within, matching_ids, prepare
from services.listening.query.normalise import fold, fold_tokens, tokenize
from services.listening.query.parser import compile_query

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
