"""FastAPI's per-parameter introspection, cached by `shared.speedups`, answers as FastAPI itself does."""

from __future__ import annotations

import importlib
from typing import Any

import fastapi
import fastapi.dependencies.utils as utils
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from shared import speedups

SERVICES = ("identity", "listening", "profiles", "engagement", "metrics")


def test_written_for_this_fastapi() -> None:
    # On an upgrade the caches switch themselves off: look at FastAPI's dependency solving again, then
    # move FOR_VERSION.
    assert fastapi.__version__ == speedups.FOR_VERSION
    assert speedups.install() is True
    assert utils._get_param_model.__wrapped__ is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize("service", SERVICES)
def test_cached_answers_equal_fastapis(service: str) -> None:
    speedups.install()
    app = importlib.import_module(f"services.{service}.app").create_app()
    checked = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        dependant = route.dependant
        fields = [*dependant.query_params, *dependant.path_params, *dependant.header_params]
        for sub in dependant.dependencies:
            fields += [*sub.query_params, *sub.path_params, *sub.header_params]
        for field in fields:
            for name in ("_get_param_model", "_get_param_aliases", "_is_json_field"):
                cached = getattr(utils, name)
                assert cached(field) == cached.__wrapped__(field), (route.path, field.name, name)
                assert cached(field) == cached.__wrapped__(field)  # the remembered answer
            annotation = field.field_info.annotation
            sequence: Any = getattr(utils, "field_annotation_is_sequence")  # noqa: B009
            assert sequence(annotation) == sequence.__wrapped__(annotation)
            checked += 1
    assert checked > 0
