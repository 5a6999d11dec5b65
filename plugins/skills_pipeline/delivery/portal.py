"""The read API's developer portal, offline: Swagger UI at /docs and ReDoc at /redoc, their scripts and stylesheets
served by the API itself from the installed assets folder (ingest/data_docs.py installs them with the Data Docs'
assets, from the npm registry, checked against pinned hashes). FastAPI's own pages load them from public CDNs,
which a government intranet does not reach: /docs was blank there.

Nothing on these pages is fetched from outside the API: no CDN, no web fonts, no validator badge."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from skills_pipeline.delivery.problems import problem_response
from skills_pipeline.ingest import data_docs

ASSETS_PATH = "/docs/assets"
# The portal's files, by the name the pages use: (package, file inside it).
PORTAL_FILES = {
    "swagger-ui-bundle.js": ("swagger-ui-dist", "swagger-ui-bundle.js"),
    "swagger-ui.css": ("swagger-ui-dist", "swagger-ui.css"),
    "favicon-32x32.png": ("swagger-ui-dist", "favicon-32x32.png"),
    "redoc.standalone.js": ("redoc", "bundles/redoc.standalone.js"),
}
# A day: the files are versioned by the installed package, and a new install comes with a new API release.
CACHE_CONTROL = "public, max-age=86400"


def asset_file(name: str) -> Path | None:
    """The installed file behind a portal asset name, or None if it is not a portal file or not installed."""
    if name not in PORTAL_FILES:
        return None
    package_name, member = PORTAL_FILES[name]
    package = next(package for package in data_docs.PACKAGES if package.name == package_name)
    path = data_docs.installed_dir() / package.folder / member
    return path if path.is_file() else None


def mount(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Add /docs, /redoc and their assets to `app` (create it with docs_url=None, redoc_url=None)."""

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            # validatorUrl: Swagger UI would otherwise ask validator.swagger.io for a badge
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            with_google_fonts=False,
        )

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    def asset(name: str):
        path = asset_file(name)
        if path is None:
            if name in PORTAL_FILES:
                return problem_response(
                    503,
                    f"the developer portal's {name} is not installed in {data_docs.installed_dir()}: run `make venv` "
                    "(scripts/bootstrap.sh) or `python -m skills_pipeline.ingest.data_docs install`",
                )
            return problem_response(404, f"no portal file {name!r}")
        return FileResponse(path, headers={"Cache-Control": CACHE_CONTROL})
