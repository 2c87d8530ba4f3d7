"""Resource templates (RFC 6570 URI templates) of a catalog: which template a concrete URI matches.

A resource whose URI holds a template expression (``{id}``) is a template: RFC 3986 does not allow
braces in a URI, so no concrete resource can be mistaken for one. Matching is by the expression
operators of RFC 6570: ``{var}`` is one path segment's characters, ``{+var}`` and ``{#var}`` anything,
``{/var}``, ``{.var}``, ``{;var}``, ``{?var}`` and ``{&var}`` an optional part introduced by their
character. Where several templates match, the one with the most literal characters wins.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["is_template", "matcher"]

_EXPRESSION = re.compile(r"\{([+#./;?&]?)[A-Za-z0-9_.,%*:]+\}")
_OPERATOR = {
    "": r"[^/?#]+",
    "+": r"[^#]*",
    "#": r"(?:#.*)?",
    "/": r"(?:/[^?#]*)?",
    ".": r"(?:\.[^/?#]*)?",
    ";": r"(?:;[^/?#]*)?",
    "?": r"(?:\?[^#]*)?",
    "&": r"(?:&[^#]*)?",
}


def is_template(uri: str) -> bool:
    return _EXPRESSION.search(uri) is not None


@lru_cache(maxsize=4096)
def matcher(template: str) -> tuple[re.Pattern[str], int]:
    """The pattern a URI of ``template`` matches, and how many literal characters the template has."""
    parts: list[str] = []
    literal = 0
    position = 0
    for expression in _EXPRESSION.finditer(template):
        text = template[position : expression.start()]
        parts.append(re.escape(text))
        literal += len(text)
        parts.append(_OPERATOR[expression.group(1)])
        position = expression.end()
    parts.append(re.escape(template[position:]))
    literal += len(template) - position
    return re.compile("".join(parts) + r"\Z"), literal
