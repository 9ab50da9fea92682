"""Per-request work FastAPI 0.163 repeats for facts fixed at startup, remembered once per parameter.

For every declared query, path or header parameter of every request, FastAPI 0.163.2 works out again
whether the parameter is a model, which aliases it has, whether its annotation is a sequence and
whether it is JSON: pure functions of the parameter's field, which never changes once the app is built.
Under load that introspection cost ~30 µs per declared parameter per request on this machine, about as
much as the database read of a page (`bench/reads.py`, docs/performance.md). `install()` wraps those
four functions with caches keyed by the field object (held, so an id is never reused) or by the
annotation; the results are the functions' own.

Only for the FastAPI version it was written against: on any other version `install()` does nothing, and
`tests/shared/test_speedups.py` fails, so whoever upgrades looks again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import fastapi
import fastapi.dependencies.utils as _utils

FOR_VERSION = "0.163.2"
_installed = False


def _per_field(fn: Callable[..., Any]) -> Callable[..., Any]:
    cache: dict[int, tuple[Any, Any]] = {}

    @functools.wraps(fn)
    def remembered(field: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return fn(field, *args, **kwargs)
        hit = cache.get(id(field))
        if hit is not None and hit[0] is field:
            return hit[1]
        value = fn(field)
        cache[id(field)] = (field, value)
        return value

    remembered.__wrapped__ = fn
    return remembered


def _per_annotation(fn: Callable[[object], bool]) -> Callable[[object], bool]:
    cached = functools.lru_cache(maxsize=4096)(fn)

    @functools.wraps(fn)
    def remembered(annotation: object) -> bool:
        try:
            return cached(annotation)
        except TypeError:  # an unhashable annotation
            return fn(annotation)

    remembered.__wrapped__ = fn
    return remembered


def install() -> bool:
    """Install the caches once per process; False (and nothing changed) on another FastAPI version."""
    global _installed
    if _installed:
        return True
    if fastapi.__version__ != FOR_VERSION:
        return False
    for name in ("_get_param_model", "_get_param_aliases", "_is_json_field"):
        setattr(_utils, name, _per_field(getattr(_utils, name)))
    sequence = _per_annotation(getattr(_utils, "field_annotation_is_sequence"))  # noqa: B009
    setattr(_utils, "field_annotation_is_sequence", sequence)  # noqa: B010
    _installed = True
    return True
