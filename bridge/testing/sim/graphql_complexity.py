"""GitLab's query complexity and depth: pure functions of a parsed operation, schema and era.

graphql-ruby's ``QueryComplexity`` analyzer sums, over the selected fields, each field's
complexity given its children's; for an interface it takes the costliest implementation, and
fields selected twice under one response key count once. What a field adds is GitLab's:

* ``resolver_proc`` (``app/graphql/types/base_field.rb`` ``field_resolver_complexity``, with
  ``app/graphql/resolvers/base_resolver.rb``): a plain field is ``1 + children``. A field
  backed by a resolver class is ``children + resolver_complexity`` (1, +1 with ``sort``, +5
  with ``search``); on a connection that grows by ``complexity * limit * 0.01`` where limit
  is ``min(first, last, max page size)`` (multiplier 0 with ``iid``/``iids``), truncated.
* ``graphql_ruby_connection``: graphql-ruby's own rule for connections (``_gem_connection``),
  which GitLab's ``BaseField#complexity_for`` bypasses; no GitLab release is known to score
  this way [inf]. The 18.4.2 complexity change (gitlab#576497) touched blob fields only.

Depth is graphql-ruby's ``QueryDepth``: nesting of fields, introspection fields not counted.
"""

from __future__ import annotations

from typing import Any

from graphql.language import ast

from bridge.testing.sim.graphql_doc import (
    Doc,
    collect,
    concrete_types,
    merged_selection,
)
from bridge.testing.sim.graphql_schema import FieldDef, Schema, named
from bridge.testing.sim.profiles import GraphqlScoring as Scoring


def complexity(doc: Doc, schema: Schema, scoring: Scoring) -> int:
    """The operation's complexity score, as ``queryComplexity.score`` reports it."""
    root = "Query"
    return _selection(doc, schema, scoring, doc.operation.selection_set, root)


def _selection(
    doc: Doc, schema: Schema, scoring: Scoring, selections: ast.SelectionSetNode | None, type_: str
) -> int:
    best = 0
    for concrete in concrete_types(schema, type_):
        total = 0
        for nodes in collect(doc, schema, selections, concrete).values():
            fdef = schema.field(concrete, nodes[0].name.value)
            if fdef is None:
                continue
            child = _selection(doc, schema, scoring, merged_selection(nodes), named(fdef.type))
            args = doc.arguments(nodes[0])
            if scoring == "graphql_ruby_connection" and fdef.connection:
                total += _gem_connection(doc, schema, fdef, nodes, args, child)
            else:
                total += _field(schema, fdef, args, child)
        best = max(best, total)
    return best


def _field(schema: Schema, fdef: FieldDef, args: dict[str, Any], child: int) -> int:
    """``Types::BaseField``: a constant 1 plus children, or the resolver proc."""
    if not fdef.resolver:
        return 1 + child
    score: float = child + resolver_complexity(args)
    if fdef.connection:
        page_size = fdef.max_page_size or schema.default_max_page_size
        limit = min(v for v in (args.get("first"), args.get("last"), page_size) if v is not None)
        multiplier = 0.0 if args.get("iid") or args.get("iids") else 0.01
        score += score * limit * multiplier
    return int(score)


def resolver_complexity(args: dict[str, Any]) -> int:
    """``BaseResolver.resolver_complexity``: 1, +1 when sorted, +5 when searching."""
    return 1 + (1 if args.get("sort") else 0) + (5 if args.get("search") else 0)


def _gem_connection(
    doc: Doc,
    schema: Schema,
    fdef: FieldDef,
    nodes: list[ast.FieldNode],
    args: dict[str, Any],
    child: int,
) -> int:
    """graphql-ruby's own connection rule (``GraphQL::Schema::Field#calculate_complexity``,
    >= 1.13, for a field without ``complexity_for``):
    ``1 + page_size * items + metadata``, where metadata is each selected connection field's
    own complexity (1), plus its sub-selection count for fields other than nodes and edges,
    and items the children's complexity less the metadata."""
    page = args.get("first")
    if args.get("last") is not None and (page is None or args["last"] > page):
        page = args["last"]
    if page is None:
        page = fdef.max_page_size or schema.default_max_page_size
    metadata = 0
    for sub in collect(doc, schema, merged_selection(nodes), named(fdef.type)).values():
        metadata += 1
        if sub[0].name.value not in ("nodes", "edges"):
            sub_type = _sub_type(schema, fdef, sub[0])
            metadata += len(collect(doc, schema, merged_selection(sub), sub_type))
    return 1 + page * (child - metadata) + metadata


def _sub_type(schema: Schema, fdef: FieldDef, node: ast.FieldNode) -> str:
    sub = schema.field(named(fdef.type), node.name.value)
    return named(sub.type) if sub else "String"


def depth(doc: Doc, schema: Schema) -> int:
    """The deepest field nesting; ``__typename`` and other introspection fields don't count."""
    return _depth(doc, schema, doc.operation.selection_set, "Query")


def _depth(doc: Doc, schema: Schema, selections: ast.SelectionSetNode | None, type_: str) -> int:
    deepest = 0
    for concrete in concrete_types(schema, type_):
        for nodes in collect(doc, schema, selections, concrete).values():
            name = nodes[0].name.value
            fdef = schema.field(concrete, name)
            if fdef is None or name.startswith("__"):
                continue
            below = _depth(doc, schema, merged_selection(nodes), named(fdef.type))
            deepest = max(deepest, 1 + below)
    return deepest
