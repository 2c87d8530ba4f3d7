"""The API documentation pages (ReDoc at ``/docs``, Swagger UI at ``/docs/swagger``), served offline.

Their scripts, stylesheet and icon are pinned copies shipped in the package (``api/static/docs``, one folder
per upstream release, see its SOURCES.md), served by the gateway at ``/docs/assets/<release>/...``: the pages
load nothing from another host, so they work without internet access, and a Content-Security-Policy keeps
them that way (what a bundle would fetch elsewhere, such as ReDoc's footer logo, is never requested).
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.static_files import create_static_files_router

__all__ = ["ASSETS_URL", "REDOC", "SWAGGER_UI", "docs_router", "render_plugins"]

DOCS_PATH = "/docs"
ASSETS = Path(__file__).parent / "static" / "docs"
ASSETS_URL = f"{DOCS_PATH}/assets"
REDOC = "redoc-2.5.4"  # npm: redoc
SWAGGER_UI = "swagger-ui-dist-5.35.0"  # npm: swagger-ui-dist
FAVICON = f"<link rel='icon' type='image/png' href='{ASSETS_URL}/{SWAGGER_UI}/favicon-32x32.png'>"
#: The pages' own inline script starts the viewer; ReDoc styles itself inline and searches in a blob worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
)


def render_plugins() -> list[OpenAPIRenderPlugin]:
    return [
        RedocRenderPlugin(
            js_url=f"{ASSETS_URL}/{REDOC}/redoc.standalone.js",
            google_fonts=False,
            favicon=FAVICON,
            path=["/", "/redoc"],
        ),
        SwaggerRenderPlugin(
            js_url=f"{ASSETS_URL}/{SWAGGER_UI}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_URL}/{SWAGGER_UI}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_URL}/{SWAGGER_UI}/swagger-ui-standalone-preset.js",
            favicon=FAVICON,
            path="/swagger",
        ),
        JsonRenderPlugin(),
        YamlRenderPlugin(),
    ]


def docs_router() -> Router:
    """The router the OpenAPI plugin adds its pages to, with the pinned assets beside them."""
    assets = create_static_files_router(
        path="/assets",
        directories=[ASSETS],
        name="docs-assets",
        include_in_schema=False,
        # each release has its own folder, so a file's URL never changes what it serves
        cache_control=CacheControlHeader(max_age=31_536_000, public=True, immutable=True),
    )
    return Router(
        DOCS_PATH,
        route_handlers=[assets],
        include_in_schema=False,
        response_headers=[ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY)],
    )
