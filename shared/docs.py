"""API docs served without third-party hosts: Swagger UI's assets come from the pinned
`swagger-ui-bundle-v2` wheel, mounted as static files; `RAPPORT_API_DOCS=false` turns the docs off."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/docs"
# Under /docs, so a deployment that hides the docs at its proxy hides their assets with them.
ASSETS_URL = "/docs/assets"


def install_docs(app: FastAPI, *, openapi_url: str, title: str) -> None:
    """`/docs` (Swagger UI over `openapi_url`) with its script, style and icon from `/docs/assets`."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI."""
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
            # Swagger UI would otherwise send the document to an online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )
