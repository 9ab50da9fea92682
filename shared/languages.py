"""Language codes in one matching form, for every service that stores, filters or counts by language.

The analysis reports Bosnian, Croatian and Serbian as the macro-language `hbs` (they cannot be told apart
reliably in one post), so a filter, a query's language list, a label or a counter given `bs`, `hr`, `sr`
or `hbs` must all mean the same stored value: `fold_language` is that one rule. Retired codes (`iw`,
`in`, `ji`, `sh`) fold to today's.
"""

from __future__ import annotations

__all__ = ["fold_language", "language_aliases", "variant_of"]

# Member languages of a macro-language: folded to the macro-language, the member kept as the variant.
_MEMBERS = {"bs": "hbs", "hr": "hbs", "sr": "hbs", "cnr": "hbs", "nb": "no", "nn": "no"}
# Retired codes and their replacements.
_RETIRED = {"sh": "hbs", "iw": "he", "in": "id", "ji": "yi"}
_MACRO = {**_MEMBERS, **_RETIRED}
_ALIASES: dict[str, tuple[str, ...]] = {}
for _code, _macro in _MACRO.items():
    _ALIASES[_macro] = (*_ALIASES.get(_macro, (_macro,)), _code)
del _code, _macro


def _parts(code: str) -> list[str]:
    return code.strip().lower().replace("_", "-").split("-")


def fold_language(code: str) -> str:
    """A BCP 47-ish language tag in matching form: lower case, `-` separators, macro-language first."""
    parts = _parts(code)
    parts[0] = _MACRO.get(parts[0], parts[0])
    return "-".join(parts)


def variant_of(code: str) -> str | None:
    """The member language a tag names inside its macro-language (`bs` for `bs`, `sr-Latn`), else None."""
    primary = _parts(code)[0]
    return primary if primary in _MEMBERS else None


def language_aliases(folded: str) -> tuple[str, ...]:
    """Every code that folds to the folded tag `folded` (itself first): rows stored before folding."""
    primary, _, rest = folded.partition("-")
    return tuple(f"{alias}-{rest}" if rest else alias for alias in _ALIASES.get(primary, (primary,)))
