"""A parsed GraphQL request: the operation to run, argument values and merged selections.

Documents are parsed with graphql-core's parser only; everything that gives GitLab's answers
(validation, complexity, execution) is the simulator's own, after graphql-ruby.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql.language import ast

from bridge.testing.sim.graphql_schema import Schema


@dataclass(frozen=True, slots=True)
class Doc:
    """One operation of a document, with its fragments and the request's variables."""

    operation: ast.OperationDefinitionNode
    fragments: dict[str, ast.FragmentDefinitionNode]
    variables: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How graphql-ruby names the operation in paths: ``query`` or ``query Name``."""
        op = self.operation
        kind = op.operation.value
        return f"{kind} {op.name.value}" if op.name else kind

    def defaults(self) -> dict[str, Any]:
        """Declared variables' default values."""
        out: dict[str, Any] = {}
        for definition in self.operation.variable_definitions or ():
            if definition.default_value is not None:
                out[definition.variable.name.value] = value_of(definition.default_value, {})
        return out

    def value(self, node: ast.ValueNode) -> Any:
        """An argument value, variables substituted (defaults first, then the request's)."""
        return value_of(node, {**self.defaults(), **self.variables})

    def arguments(self, node: ast.FieldNode) -> dict[str, Any]:
        """A field's arguments as given (absent ones are left out)."""
        out: dict[str, Any] = {}
        for arg in node.arguments or ():
            if isinstance(arg.value, ast.VariableNode):
                name = arg.value.name.value
                if name not in self.variables and name not in self.defaults():
                    continue
            out[arg.name.value] = self.value(arg.value)
        return out


def value_of(node: ast.ValueNode, variables: Mapping[str, Any]) -> Any:
    """The Python value of a literal; a variable's value from ``variables``."""
    if isinstance(node, ast.VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, ast.IntValueNode):
        return int(node.value)
    if isinstance(node, ast.FloatValueNode):
        return float(node.value)
    if isinstance(node, ast.BooleanValueNode):
        return node.value
    if isinstance(node, ast.NullValueNode):
        return None
    if isinstance(node, ast.ListValueNode):
        return [value_of(v, variables) for v in node.values]
    if isinstance(node, ast.ObjectValueNode):
        return {f.name.value: value_of(f.value, variables) for f in node.fields}
    if isinstance(node, ast.StringValueNode | ast.EnumValueNode):
        return node.value
    raise TypeError(f"unknown value node {node.kind}")


def response_key(node: ast.FieldNode) -> str:
    """The alias, else the field name."""
    return node.alias.value if node.alias else node.name.value


def applies(schema: Schema, condition: str | None, concrete: str) -> bool:
    """Whether a fragment on ``condition`` applies to an object of type ``concrete``."""
    if condition is None or condition == concrete:
        return True
    typedef = schema.types.get(condition)
    return typedef is not None and concrete in typedef.possible


def collect(
    doc: Doc, schema: Schema, selections: ast.SelectionSetNode | None, concrete: str
) -> dict[str, list[ast.FieldNode]]:
    """Fields selected on an object of type ``concrete``, fragments expanded, merged by
    response key in first-seen order (graphql-ruby's ``gather_selections``)."""
    merged: dict[str, list[ast.FieldNode]] = {}
    for node in _walk(doc, schema, selections, concrete, set()):
        merged.setdefault(response_key(node), []).append(node)
    return merged


def _walk(
    doc: Doc,
    schema: Schema,
    selections: ast.SelectionSetNode | None,
    concrete: str,
    seen: set[str],
) -> Iterator[ast.FieldNode]:
    for selection in selections.selections if selections else ():
        if _skipped(doc, selection):
            continue
        if isinstance(selection, ast.FieldNode):
            yield selection
        elif isinstance(selection, ast.InlineFragmentNode):
            condition = selection.type_condition.name.value if selection.type_condition else None
            if applies(schema, condition, concrete):
                yield from _walk(doc, schema, selection.selection_set, concrete, seen)
        elif isinstance(selection, ast.FragmentSpreadNode):
            name = selection.name.value
            fragment = doc.fragments.get(name)
            if fragment is None or name in seen:
                continue
            if applies(schema, fragment.type_condition.name.value, concrete):
                yield from _walk(doc, schema, fragment.selection_set, concrete, seen | {name})


def _skipped(doc: Doc, node: ast.SelectionNode) -> bool:
    """``@skip(if: true)`` or ``@include(if: false)``."""
    for directive in node.directives or ():
        args = {a.name.value: doc.value(a.value) for a in directive.arguments or ()}
        if directive.name.value == "skip" and args.get("if") is True:
            return True
        if directive.name.value == "include" and args.get("if") is False:
            return True
    return False


def merged_selection(nodes: list[ast.FieldNode]) -> ast.SelectionSetNode | None:
    """The sub-selections of several same-keyed field nodes, as one selection set."""
    sets = [n.selection_set for n in nodes if n.selection_set is not None]
    if not sets:
        return None
    if len(sets) == 1:
        return sets[0]
    return ast.SelectionSetNode(selections=tuple(s for ss in sets for s in ss.selections))


def concrete_types(schema: Schema, type_name: str) -> tuple[str, ...]:
    """An object type itself, or an interface's implementations."""
    typedef = schema.types.get(type_name)
    if typedef is not None and typedef.kind == "INTERFACE":
        return typedef.possible
    return (type_name,)
