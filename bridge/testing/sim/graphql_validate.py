"""graphql-ruby's static validation, for the rules a client of the served slice can break.

Messages, ``locations``, ``path`` and ``extensions`` are graphql-ruby's
(``lib/graphql/static_validation/rules/*``): a field the version lacks is
``Field 'x' doesn't exist on type 'Query'`` with ``extensions.code`` ``undefinedField``. The
whole document is validated, operations then fragments, in document order.
"""

from __future__ import annotations

from typing import Any

from graphql.language import ast, print_ast

from bridge.testing.sim.graphql_doc import value_of
from bridge.testing.sim.graphql_schema import FieldDef, Schema, is_list, named

Error = dict[str, Any]


def validate(document: ast.DocumentNode, schema: Schema, max_errors: int | None) -> list[Error]:
    """Every validation error of a document, in graphql-ruby's order and shape."""
    checker = _Checker(schema, document)
    for definition in document.definitions:
        if isinstance(definition, ast.OperationDefinitionNode):
            checker.operation(definition)
    for definition in document.definitions:
        if isinstance(definition, ast.FragmentDefinitionNode):
            checker.fragment(definition)
    return checker.errors[:max_errors] if max_errors else checker.errors


def location(node: ast.Node) -> dict[str, int]:
    """graphql-ruby's ``{"line", "column"}`` of a node (1-based)."""
    assert node.loc is not None
    token = node.loc.start_token
    return {"line": token.line, "column": token.column}


class _Checker:
    def __init__(self, schema: Schema, document: ast.DocumentNode) -> None:
        self.schema = schema
        self.errors: list[Error] = []
        self.fragments = {
            d.name.value: d
            for d in document.definitions
            if isinstance(d, ast.FragmentDefinitionNode)
        }
        self.spread: set[str] = set()
        self.variables_used: list[ast.VariableNode] = []

    def error(self, message: str, node: ast.Node, path: list[str], **extensions: str) -> None:
        self.errors.append(
            {
                "message": message,
                "locations": [location(node)],
                "path": list(path),
                "extensions": extensions,
            }
        )

    def operation(self, op: ast.OperationDefinitionNode) -> None:
        kind = op.operation.value
        label = f"{kind} {op.name.value}" if op.name else kind
        self.variables_used = []
        root = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}[kind]
        self.selections(op.selection_set, root, [label])
        self._check_variables(op, label)

    def fragment(self, frag: ast.FragmentDefinitionNode) -> None:
        name = frag.name.value
        path = [f"fragment {name}"]
        condition = frag.type_condition.name.value
        if condition not in self.schema.types:
            self.error(
                f"No such type {condition}, so it can't be a fragment condition",
                frag,
                path,
                code="undefinedType",
                typeName=condition,
            )
        else:
            self.selections(frag.selection_set, condition, path)
        if name not in self.spread:
            self.error(
                f"Fragment {name} was defined, but not used",
                frag,
                path,
                code="useAndDefineFragment",
                fragmentName=name,
            )

    def selections(self, selset: ast.SelectionSetNode, parent: str, path: list[str]) -> None:
        for selection in selset.selections:
            if isinstance(selection, ast.FieldNode):
                self.field(selection, parent, path)
            elif isinstance(selection, ast.InlineFragmentNode):
                cond = selection.type_condition
                type_ = cond.name.value if cond else parent
                sub = [*path, f"... on {type_}" if cond else "..."]
                if type_ not in self.schema.types:
                    self.error(
                        f"No such type {type_}, so it can't be a fragment condition",
                        selection,
                        sub,
                        code="undefinedType",
                        typeName=type_,
                    )
                    continue
                self.selections(selection.selection_set, type_, sub)
            elif isinstance(selection, ast.FragmentSpreadNode):
                name = selection.name.value
                self.spread.add(name)
                if name not in self.fragments:
                    self.error(
                        f"Fragment {name} was used, but not defined",
                        selection,
                        [*path, f"... {name}"],
                        code="useAndDefineFragment",
                        fragmentName=name,
                    )
                else:
                    self._collect_variables(self.fragments[name].selection_set)

    def field(self, node: ast.FieldNode, parent: str, path: list[str]) -> None:
        name = node.name.value
        sub = [*path, node.alias.value if node.alias else name]
        fdef = self.schema.field(parent, name)
        if fdef is None:
            self.error(
                f"Field '{name}' doesn't exist on type '{parent}'",
                node,
                sub,
                code="undefinedField",
                typeName=parent,
                fieldName=name,
            )
            return
        self.arguments(node, fdef, sub)
        self._selection_shape(node, fdef, sub)
        if node.selection_set is not None and named(fdef.type) in self.schema.types:
            kind = self.schema.types[named(fdef.type)].kind
            if kind in ("OBJECT", "INTERFACE"):
                self.selections(node.selection_set, named(fdef.type), sub)

    def arguments(self, node: ast.FieldNode, fdef: FieldDef, path: list[str]) -> None:
        given = set()
        for arg in node.arguments or ():
            name = arg.name.value
            given.add(name)
            adef = fdef.arg(name)
            if isinstance(arg.value, ast.VariableNode):
                self.variables_used.append(arg.value)
            if adef is None:
                self.error(
                    f"Field '{fdef.name}' doesn't accept argument '{name}'",
                    arg,
                    [*path, name],
                    code="argumentNotAccepted",
                    name=fdef.name,
                    typeName="Field",
                    argumentName=name,
                )
            elif not self._literal_ok(arg.value, adef.type):
                self.error(
                    f"Argument '{name}' on Field '{fdef.name}' has an invalid value "
                    f"({print_ast(arg.value)}). Expected type '{adef.type}'.",
                    node,
                    [*path, name],
                    code="argumentLiteralsIncompatible",
                    typeName="Field",
                    argumentName=name,
                )
        missing = [a.name for a in fdef.args if a.type.endswith("!") and a.name not in given]
        if missing:
            self.error(
                f"Field '{fdef.name}' is missing required arguments: {', '.join(missing)}",
                node,
                path,
                code="missingRequiredArguments",
                className="Field",
                name=fdef.name,
                arguments=", ".join(missing),
            )

    def _literal_ok(self, value: ast.ValueNode, type_ref: str) -> bool:
        """Whether a literal fits an argument type (variables are judged at run time)."""
        if isinstance(value, ast.VariableNode):
            return True
        if isinstance(value, ast.NullValueNode):
            return not type_ref.endswith("!")
        inner = type_ref.removesuffix("!")
        if is_list(inner):
            item = inner[1:-1]
            values = value.values if isinstance(value, ast.ListValueNode) else (value,)
            return all(self._literal_ok(v, item) for v in values)
        return _scalar_ok(self.schema, value, named(inner))

    def _selection_shape(self, node: ast.FieldNode, fdef: FieldDef, path: list[str]) -> None:
        type_name = named(fdef.type)
        typedef = self.schema.types.get(type_name)
        leaf = typedef is None or typedef.kind in ("SCALAR", "ENUM")
        node_name = f"field '{fdef.name}'"
        if leaf and node.selection_set is not None:
            kind = "enums" if typedef is not None and typedef.kind == "ENUM" else "scalars"
            names = ", ".join(
                s.name.value for s in node.selection_set.selections if isinstance(s, ast.FieldNode)
            )
            self.error(
                f"Selections can't be made on {kind} ({node_name} returns {type_name} "
                f"but has selections [{names}])",
                node,
                path,
                code="selectionMismatch",
                nodeName=node_name,
                typeName=type_name,
            )
        elif not leaf and node.selection_set is None:
            self.error(
                f"Field must have selections ({node_name} returns {type_name} but has no "
                f"selections. Did you mean '{fdef.name} {{ ... }}'?)",
                node,
                path,
                code="selectionMismatch",
                nodeName=node_name,
                typeName=type_name,
            )

    def _collect_variables(self, selset: ast.SelectionSetNode) -> None:
        for selection in selset.selections:
            if isinstance(selection, ast.FieldNode):
                for arg in selection.arguments or ():
                    if isinstance(arg.value, ast.VariableNode):
                        self.variables_used.append(arg.value)
            subset = getattr(selection, "selection_set", None)
            if subset is not None:
                self._collect_variables(subset)

    def _check_variables(self, op: ast.OperationDefinitionNode, label: str) -> None:
        owner = op.name.value if op.name else f"anonymous {op.operation.value}"
        declared = {d.variable.name.value: d for d in op.variable_definitions or ()}
        used = {v.name.value for v in self.variables_used}
        for var in self.variables_used:
            if var.name.value not in declared:
                self.error(
                    f"Variable ${var.name.value} is used by {owner} but not declared",
                    var,
                    [label],
                    code="variableNotDefined",
                    variableName=var.name.value,
                )
                declared[var.name.value] = ast.VariableDefinitionNode()  # report once
        for name, definition in declared.items():
            if name not in used and definition.loc is not None:
                self.error(
                    f"Variable ${name} is declared by {owner} but not used",
                    definition,
                    [label],
                    code="variableNotUsed",
                    variableName=name,
                )


def _scalar_ok(schema: Schema, value: ast.ValueNode, type_name: str) -> bool:
    typedef = schema.types.get(type_name)
    if typedef is not None and typedef.kind == "ENUM":
        return isinstance(value, ast.EnumValueNode) and value.value in typedef.values
    if type_name == "Int":
        return isinstance(value, ast.IntValueNode) and -(2**31) <= int(value.value) < 2**31
    if type_name == "Boolean":
        return isinstance(value, ast.BooleanValueNode)
    if type_name in ("String", "Time"):
        return isinstance(value, ast.StringValueNode)
    if type_name == "ID":
        return isinstance(value, ast.StringValueNode | ast.IntValueNode)
    return value_of(value, {}) is not None
