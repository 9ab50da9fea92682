"""The listening query language: boolean queries over mentions, matched accent- and case-insensitively.

    query = compile_query('(kargo OR teslimat) AND gecik* NOT "iade edildi" lang:tr')
    doc = prepare(text, language="tr", platform="x", author="ayse")   # once per mention
    query.matches(doc)

Pure and I/O-free; see `parser` for the grammar and `normalise` for the folding rules.
"""

from services.listening.query.errors import QuerySyntaxError
from services.listening.query.matcher import Doc, Query, matching_ids, prepare
from services.listening.query.normalise import fold, fold_tokens, tokenize
from services.listening.query.parser import compile_query

__all__ = [
    "Doc",
    "Query",
    "QuerySyntaxError",
    "compile_query",
    "fold",
    "fold_tokens",
    "matching_ids",
    "prepare",
    "tokenize",
]
