"""The documentation pages of a real ``ledgergate serve`` load nothing from another host."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from ledgergate.api.docs_pages import ASSETS
from tests.api.conftest import ServerProcess, start_server

pytestmark = pytest.mark.slow


class References(HTMLParser):
    """Every URL a page makes the browser fetch: script and image sources, stylesheet and icon links."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name) and (tag != "a" or name != "href"):
                self.urls.append(values[name] or "")


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    # stylesheets inside the page: @import and url(...) reach other hosts too
    styles = " ".join(re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL))
    return (
        parser.urls + re.findall(r"url\(\s*['\"]?([^'\")]+)", styles) + re.findall(r"@import\s+['\"]([^'\"]+)", styles)
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("docs") / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("page", ["/docs", "/docs/redoc", "/docs/swagger"])
def test_a_docs_page_references_only_the_gateway_and_every_asset_answers(served: ServerProcess, page: str) -> None:
    response = httpx.get(served.url + page, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = references(response.text)
    assert urls, "the page references no script"
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from another host"
        asset = httpx.get(urljoin(served.url + page, url), timeout=10)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", response.text)
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy


def test_the_scripts_are_the_pinned_releases_with_a_long_cache_life(served: ServerProcess) -> None:
    html = httpx.get(served.url + "/docs/swagger", timeout=10).text
    scripts = [u for u in references(html) if u.endswith(".js")]
    assert {Path(u).parent.name for u in scripts} == {"swagger-ui-dist-5.35.0"}
    answer = httpx.get(served.url + scripts[0], timeout=10)
    assert answer.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "immutable" in answer.headers["cache-control"]
    assert "redoc-2.5.4/redoc.standalone.js" in httpx.get(served.url + "/docs", timeout=10).text


def test_the_vendored_files_are_the_ones_their_sources_file_records() -> None:
    sources = (ASSETS / "SOURCES.md").read_text()
    recorded = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", sources, re.MULTILINE))
    shipped = {str(p.relative_to(ASSETS)): p for p in ASSETS.glob("*/*")}
    assert set(recorded) == set(shipped)
    for name, path in shipped.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded[name], name


def test_the_document_declares_the_bearer_scheme_swagger_authorize_uses(served: ServerProcess) -> None:
    document = httpx.get(served.url + "/docs/openapi.json", timeout=10).json()
    scheme = document["components"]["securitySchemes"]["BearerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["paths"]["/v1/tenants"]["get"]["security"] == [{"BearerToken": []}]
