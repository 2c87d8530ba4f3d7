"""JSON Schemas of tools: valid for draft 2020-12, and safe to check arguments against.

jsonschema recurses once per subschema it applies, in Python, so a schema is refused when checking it or
a value against it could exhaust the stack or never end:

- the document nests at most ``MAX_SCHEMA_DEPTH`` arrays and objects (checking it against the metaschema
  costs about five frames a level);
- every ``$ref`` and ``$dynamicRef`` resolves inside the document. Nothing is ever fetched (jsonschema would
  otherwise download a remote reference while checking a call's arguments), and a dangling reference is
  refused now rather than failing every call later;
- references never lead back to a schema being applied to the same value (``{"$ref": "#"}`` at the root,
  ``allOf`` cycles): that recursion has no end. Recursion through ``properties``, ``items`` and the other
  keywords that step into the value is fine, since the value is finite;
- the longest chain of subschemas a value of up to ``MAX_VALUE_DEPTH`` levels can be checked against is at
  most ``MAX_VALIDATION_DEPTH`` (about two frames each), so a recursive schema still fits in the stack;
- along any one path of such a value at most ``MAX_VALIDATION_WORK`` subschemas are applied, so branches
  that each recurse (``anyOf: [{"$ref": "#"}, {"$ref": "#"}]``) cannot make one check take exponential time.

Both costs are computed per kind of value (object, array, other), since ``properties`` applies only to
objects and ``items`` only to arrays: ``anyOf`` over the JSON types recursing in each stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from referencing._core import Resolver

__all__ = [
    "MAX_SCHEMA_DEPTH",
    "MAX_VALIDATION_DEPTH",
    "MAX_VALIDATION_WORK",
    "MAX_VALUE_DEPTH",
    "nesting_problem",
    "schema_problem",
]

MAX_SCHEMA_DEPTH = 48
MAX_VALIDATION_DEPTH = 256
MAX_VALIDATION_WORK = 4096
#: The deepest value a schema is applied to: the REST and MCP body limit (``api.json_limits.MAX_JSON_DEPTH``).
MAX_VALUE_DEPTH = 64

OBJECT, ARRAY, SCALAR = "object", "array", "scalar"
KINDS = (OBJECT, ARRAY, SCALAR)
#: Keywords whose subschemas apply to the same value, and the kinds of value they apply to.
IN_PLACE_ONE = ("not", "if", "then", "else")
IN_PLACE_MANY = ("allOf", "anyOf", "oneOf")
#: Keywords whose subschemas apply to a value's members: (keyword, the value's kind, the members' kinds,
#: whether one member can meet several of its subschemas). A member meets one of ``properties`` (by name)
#: and one of ``prefixItems`` (by index), but every ``patternProperties`` pattern it matches.
MEMBERS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("properties", OBJECT, KINDS, False),
    ("patternProperties", OBJECT, KINDS, True),
    ("additionalProperties", OBJECT, KINDS, True),
    ("unevaluatedProperties", OBJECT, KINDS, True),
    ("propertyNames", OBJECT, (SCALAR,), True),
    ("prefixItems", ARRAY, KINDS, False),
    ("items", ARRAY, KINDS, True),
    ("contains", ARRAY, KINDS, True),
    ("unevaluatedItems", ARRAY, KINDS, True),
)

Node = tuple[Any, "Resolver[Any]"]


@dataclass(frozen=True)
class _Members:
    """The subschemas one keyword applies to the members of a value of kind ``of``."""

    of: str
    kinds: tuple[str, ...]
    several: bool
    keys: list[int]


class _Refused(Exception):
    pass


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        deepest = max(deepest, depth)
        if deepest > MAX_SCHEMA_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _dynamic_anchors(schema: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            anchor = item.get("$dynamicAnchor")
            if isinstance(anchor, str):
                found.setdefault(anchor, []).append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _subschemas(schema: dict[str, Any], keyword: str) -> list[Any]:
    value = schema.get(keyword)
    if value is None:
        return []
    if keyword in IN_PLACE_MANY or keyword == "prefixItems":
        return list(value)
    if keyword in ("properties", "patternProperties"):
        return list(value.values())
    return [value]


class _Graph:
    """Every subschema reachable from the root, with its edges: same value (``inner``) and members (``outer``)."""

    def __init__(self, schema: Any) -> None:
        self.anchors = _dynamic_anchors(schema)
        self.nodes: dict[int, Any] = {}
        self.inner: dict[int, list[tuple[int, tuple[str, ...]]]] = {}
        self.outer: dict[int, list[_Members]] = {}
        self._pending: list[Node] = []
        self.root = self._visit(schema, Registry().resolver_with_root(DRAFT202012.create_resource(schema)))
        while self._pending:  # a loop, not recursion: the walk must not be what exhausts the stack
            self._expand(*self._pending.pop())

    def _visit(self, schema: Any, resolver: Resolver[Any]) -> int:
        key = id(schema)
        if key not in self.nodes:
            self.nodes[key] = schema
            self.inner[key], self.outer[key] = [], []
            self._pending.append((schema, resolver))
        return key

    def _expand(self, schema: Any, resolver: Resolver[Any]) -> None:
        if not isinstance(schema, dict):
            return
        here = resolver.in_subresource(DRAFT202012.create_resource(schema))
        key = id(schema)
        references = self._references(schema, here)
        self.inner[key] += [(self._visit(target, where), KINDS) for target, where in references.values()]
        self.inner[key] += [
            (self._visit(sub, here), KINDS) for k in IN_PLACE_ONE + IN_PLACE_MANY for sub in _subschemas(schema, k)
        ]
        self.inner[key] += [(self._visit(sub, here), (OBJECT,)) for sub in schema.get("dependentSchemas", {}).values()]
        for keyword, of, kinds, several in MEMBERS:
            subs = _subschemas(schema, keyword)
            if subs:
                self.outer[key].append(_Members(of, kinds, several, [self._visit(sub, here) for sub in subs]))

    def _references(self, schema: dict[str, Any], resolver: Resolver[Any]) -> dict[int, Node]:
        """Every schema a reference here may apply, once each (a $dynamicRef may reach several)."""
        found: list[Node] = []
        for keyword in ("$ref", "$dynamicRef"):
            ref = schema.get(keyword)
            if ref is None:
                continue
            try:
                resolved = resolver.lookup(ref)
            except Unresolvable:
                raise _Refused(f"{keyword} {ref!r} does not resolve inside the schema (nothing is fetched)") from None
            found.append((resolved.contents, resolved.resolver))
            if keyword == "$dynamicRef" and ref.startswith("#"):  # any same-named anchor may be in scope
                found += [(anchor, resolved.resolver) for anchor in self.anchors.get(ref[1:], [])]
        for target, _ in found:
            if not isinstance(target, dict | bool):
                raise _Refused(f"a reference points at {type(target).__name__} {target!r}, not at a schema")
        return {id(target): (target, where) for target, where in found}

    def same_value_order(self) -> list[int]:
        """Nodes with every same-value successor before them. Raises: _Refused on a same-value cycle."""
        waiting = {key: len(self.inner[key]) for key in self.nodes}
        parents: dict[int, list[int]] = {key: [] for key in self.nodes}
        for key, successors in self.inner.items():
            for successor, _ in successors:
                parents[successor].append(key)
        ready = [key for key, count in waiting.items() if count == 0]
        order = []
        while ready:
            key = ready.pop()
            order.append(key)
            for parent in parents[key]:
                waiting[parent] -= 1
                if waiting[parent] == 0:
                    ready.append(parent)
        if len(order) < len(self.nodes):
            raise _Refused("its references loop back to a schema applied to the same value: checking would never end")
        return order


Costs = dict[tuple[int, str], tuple[int, int]]


def _cost(graph: _Graph, key: int, kind: str, current: Costs, previous: Costs) -> tuple[int, int]:
    """(longest chain, applications along one path) of checking a value of ``kind`` against node ``key``."""
    depth, work = 0, 0
    for successor, kinds in graph.inner[key]:
        if kind in kinds:
            sub_depth, sub_work = current[successor, kind]
            depth, work = max(depth, sub_depth), work + sub_work
    for members in graph.outer[key] if previous else ():
        if members.of != kind:
            continue
        # a member is of one kind: its cost is that of its costliest kind
        depths = [max(previous[sub, k][0] for k in members.kinds) for sub in members.keys]
        works = [max(previous[sub, k][1] for k in members.kinds) for sub in members.keys]
        depth = max(depth, *depths)
        work += sum(works) if members.several else max(works)
    return depth + 1, work + 1


def _validation_costs(graph: _Graph) -> tuple[int, int]:
    """The longest chain of subschemas, and the most applications along one path of the value, that checking
    a value at most ``MAX_VALUE_DEPTH`` levels deep against the root can take."""
    order = graph.same_value_order()
    previous: Costs = {}
    for _ in range(MAX_VALUE_DEPTH + 1):  # costs for values one level deeper each round
        current: Costs = {}
        for key in order:
            for kind in KINDS:
                current[key, kind] = _cost(graph, key, kind, current, previous)
        root = max(current[graph.root, kind] for kind in KINDS)
        if current == previous or root[0] > MAX_VALIDATION_DEPTH or root[1] > MAX_VALIDATION_WORK:
            return root
        previous = current
    return max(previous[graph.root, kind] for kind in KINDS)


def nesting_problem(schema: Any) -> str | None:
    """The cheap first check (no recursion, so it also guards re-encoding the schema)."""
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        return f"it nests arrays and objects deeper than {MAX_SCHEMA_DEPTH} levels"
    return None


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is refused as a tool's JSON Schema, or None when it is fine."""
    nesting = nesting_problem(schema)
    if nesting is not None:
        return nesting
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return str(exc.message)
    try:
        depth, work = _validation_costs(_Graph(schema))
    except _Refused as exc:
        return str(exc)
    except ValueError as exc:  # a "$id" or "$ref" that is not even a URI (urljoin refuses it)
        return f"a $id or $ref is not a valid URI ({exc})"
    if depth > MAX_VALIDATION_DEPTH:
        return (
            f"checking a value against it can apply more than {MAX_VALIDATION_DEPTH} nested subschemas "
            f"(values nest up to {MAX_VALUE_DEPTH} levels)"
        )
    if work > MAX_VALIDATION_WORK:
        return (
            f"checking a value against it can apply more than {MAX_VALIDATION_WORK} subschemas along one path "
            "(branches of anyOf, oneOf or allOf that each recurse make the work grow exponentially)"
        )
    return None
