"""``POST /api/graphql``: GitLab's GraphqlController for the slice the bridge uses.

Order as in GitLab (docs/simulator.md#graphql): Rack::Attack has already counted the request
(``/api/graphql`` is an API path); then the token (401 ``Invalid token``, 403 ``API not
accessible for user``), the query size (``MAX_QUERY_SIZE``, 422 ``Query too large``), and for
each query of the request (a JSON array is a multiplex) parsing, validation, the depth and
complexity analyzers and execution. Validation, analysis and execution errors are HTTP 200
with ``errors``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from graphql.error import GraphQLSyntaxError
from graphql.language import Lexer, Source, TokenKind, ast, parse, print_ast

from bridge.testing.sim.graphql_complexity import complexity, depth
from bridge.testing.sim.graphql_doc import Doc
from bridge.testing.sim.graphql_exec import Context, execute
from bridge.testing.sim.graphql_schema import Schema, schema_for
from bridge.testing.sim.graphql_validate import location, validate
from bridge.testing.sim.http import ApiError, Response, parse_query
from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import User
from bridge.testing.sim.snapshot import Snapshot

logger = logging.getLogger(__name__)
PATH = "/api/graphql"
MAX_QUERY_SIZE = 10_000  # GraphqlController::MAX_QUERY_SIZE
# GitlabSchema: DEFAULT_MAX_COMPLEXITY, AUTHENTICATED_MAX_COMPLEXITY, ADMIN_MAX_COMPLEXITY
MAX_COMPLEXITY = {"anonymous": 200, "user": 250, "admin": 300}
MAX_DEPTH = {"anonymous": 15, "user": 20, "admin": 20}  # DEFAULT_ / AUTHENTICATED_MAX_DEPTH


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphqlRequest:
    """One request to the endpoint, with the caller already looked up."""

    method: str
    body: bytes
    query: str  # the URL's query string
    content_type: str
    user: User | None
    refusal: ApiError | None  # the REST refusal of the token, if any
    snap: Snapshot
    profile: Profile


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = Response(status, {"errors": [{"message": message}]})


@dataclass
class _Prepared:
    """A query that passed validation, with its analysis."""

    doc: Doc
    score: int
    limit: int
    errors: list[dict[str, Any]]


def handle(request: GraphqlRequest) -> Response:
    """Answer one request to ``/api/graphql``."""
    try:
        if request.refusal is not None:
            if request.refusal.status == 401:
                raise _Refused(401, "Invalid token")
            raise _Refused(403, "API not accessible for user")
        payload = _payload(request)
        entries = payload if isinstance(payload, list) else [payload]
        _check_size(request.profile, entries)
        results = _run(request, entries, multiplex=isinstance(payload, list))
    except _Refused as exc:
        return exc.response
    except Exception:  # GraphqlController's rescue_from StandardError
        logger.exception("simulated /api/graphql failed")
        return Response(500, {"errors": [{"message": "Internal server error"}]})
    return Response(200, results if isinstance(payload, list) else results[0])


def _payload(request: GraphqlRequest) -> Any:
    """The JSON body (object or array), a form, or the URL's parameters (GET)."""
    media = request.content_type.split(";", 1)[0].strip().lower()
    if request.method == "POST" and media == "application/json" and request.body:
        try:
            data = json.loads(request.body)
        except ValueError:
            raise _Refused(400, "Invalid JSON body") from None  # [inf]
        if isinstance(data, list):
            return [e if isinstance(e, dict) else {} for e in data]
        return data if isinstance(data, dict) else {}
    params: dict[str, Any] = dict(parse_query(request.query))
    if request.method == "POST" and media == "application/x-www-form-urlencoded":
        params.update(parse_query(request.body.decode("utf-8", errors="replace")))
    return params


def _check_size(profile: Profile, entries: list[dict[str, Any]]) -> None:
    """``limit_query_size``: the query strings together, variables not counted."""
    if not profile.graphql_query_size_limit:
        return
    if sum(len(str(e.get("query") or "")) for e in entries) > MAX_QUERY_SIZE:
        raise _Refused(422, "Query too large")


def _role(user: User | None) -> str:
    if user is None:
        return "anonymous"
    return "admin" if user.is_admin else "user"


def _run(request: GraphqlRequest, entries: list[dict[str, Any]], *, multiplex: bool) -> list[Any]:
    schema = schema_for(request.profile)
    role = _role(request.user)
    # GitlabSchema.multiplex: each query gets the caller's limits (!56424, ~13.10); before,
    # a query of a multiplex kept the schema's default of 200 [inf].
    per_query = MAX_COMPLEXITY[role]
    if multiplex and not request.profile.graphql_multiplex_limits:
        per_query = MAX_COMPLEXITY["anonymous"]
    prepared = [_prepare(request, schema, e, per_query, MAX_DEPTH[role]) for e in entries]
    if multiplex:
        total = sum(p.score for p in prepared if isinstance(p, _Prepared))
        if total > MAX_COMPLEXITY[role]:  # the multiplex analyzer's error goes to every query
            error = _over("complexity", total, MAX_COMPLEXITY[role])
            for p in prepared:
                if isinstance(p, _Prepared):
                    p.errors.insert(0, error)
    return [_finish(request, schema, p) for p in prepared]


def _over(what: str, value: int, limit: int) -> dict[str, Any]:
    return {"message": f"Query has {what} of {value}, which exceeds max {what} of {limit}"}


def _prepare(
    request: GraphqlRequest, schema: Schema, entry: dict[str, Any], limit: int, max_depth: int
) -> _Prepared | dict[str, Any]:
    """Parse, validate and analyse one query; a finished result when it stops there."""
    text = entry.get("query")
    if not isinstance(text, str) or not text.strip():
        return {"errors": [{"message": "No query string was present"}]}
    variables = _variables(entry.get("variables"))
    try:
        document = parse(text, no_location=False)
    except GraphQLSyntaxError as exc:
        return {"errors": [_parse_error(text, exc)]}
    op = _operation(document, entry.get("operationName"))
    if isinstance(op, dict):
        return op
    errors = validate(document, schema, request.profile.graphql_max_errors)
    errors = errors or _variable_errors(op, variables)
    if errors:
        return {"errors": errors}
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinitionNode)
    }
    doc = Doc(op, fragments, variables)
    score = complexity(doc, schema, request.profile.graphql_scoring)
    found: list[dict[str, Any]] = []
    deepest = depth(doc, schema)
    if deepest > max_depth:
        found.append(_over("depth", deepest, max_depth))
    if score > limit:
        found.append(_over("complexity", score, limit))
    return _Prepared(doc, score, limit, found)


def _finish(request: GraphqlRequest, schema: Schema, prepared: _Prepared | dict[str, Any]) -> Any:
    if not isinstance(prepared, _Prepared):
        return prepared
    if prepared.errors:
        return {"errors": prepared.errors}
    ctx = Context(
        snap=request.snap,
        profile=request.profile,
        caller=request.user,
        schema=schema,
        doc=prepared.doc,
        complexity={"score": prepared.score, "limit": prepared.limit},
    )
    data = execute(ctx)
    return {"errors": ctx.errors, "data": data} if ctx.errors else {"data": data}


def _variables(raw: Any) -> dict[str, Any]:
    """``Gitlab::Graphql::Variables``: a hash, a JSON string of one, or nothing."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise _Refused(422, f"unexpected token at '{raw}'") from None  # [inf]
        return parsed if isinstance(parsed, dict) else {}
    raise _Refused(422, f"Unexpected parameter: {raw}")


_SCALAR_CHECKS = {
    "Int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
    "String": lambda v: isinstance(v, str),
    "ID": lambda v: isinstance(v, str | int) and not isinstance(v, bool),
}


def _variable_errors(op: ast.OperationDefinitionNode, values: dict[str, Any]) -> list[Any]:
    """graphql-ruby's runtime check of variable values: nulls for non-null types and the
    built-in scalars (enums and input objects are not checked) [inf: the explanations]."""
    errors = []
    for definition in op.variable_definitions or ():
        name = definition.variable.name.value
        type_text = print_ast(definition.type)
        value = values.get(name)
        problem = None
        if value is None:
            if type_text.endswith("!") and definition.default_value is None:
                problem = "Expected value to not be null"
        else:
            base = type_text.removesuffix("!")
            items = value if base.startswith("[") and isinstance(value, list) else [value]
            check = _SCALAR_CHECKS.get(base.strip("[]!"))
            bad = next((v for v in items if check is not None and not check(v)), None)
            if bad is not None:
                problem = f"Could not coerce value {json.dumps(bad)} to {base.strip('[]!')}"
        if problem:
            errors.append(
                {
                    "message": f"Variable ${name} of type {type_text} was provided invalid value",
                    "locations": [location(definition)],
                    "extensions": {
                        "value": value,
                        "problems": [{"path": [], "explanation": problem}],
                    },
                }
            )
    return errors


def _operation(
    document: ast.DocumentNode, name: Any
) -> ast.OperationDefinitionNode | dict[str, Any]:
    ops = [d for d in document.definitions if isinstance(d, ast.OperationDefinitionNode)]
    if name:
        for op in ops:
            if op.name is not None and op.name.value == name:
                return op
        return {"errors": [{"message": f'No operation named "{name}"'}]}
    if len(ops) != 1:
        message = "An operation name is required" if ops else "No operations in this document"
        return {"errors": [{"message": message}]}
    return ops[0]


# graphql-ruby's lexer token names, for its "Parse error on ..." message [inf: the mapping]
_TOKEN_NAMES = {
    TokenKind.BRACE_L: "LCURLY",
    TokenKind.BRACE_R: "RCURLY",
    TokenKind.PAREN_L: "LPAREN",
    TokenKind.PAREN_R: "RPAREN",
    TokenKind.BRACKET_L: "LBRACKET",
    TokenKind.BRACKET_R: "RBRACKET",
    TokenKind.COLON: "COLON",
    TokenKind.EQUALS: "EQUALS",
    TokenKind.BANG: "BANG",
    TokenKind.DOLLAR: "VAR_SIGN",
    TokenKind.SPREAD: "ELLIPSIS",
    TokenKind.AT: "DIR_SIGN",
    TokenKind.NAME: "IDENTIFIER",
    TokenKind.INT: "INT",
    TokenKind.FLOAT: "FLOAT",
    TokenKind.STRING: "STRING",
    TokenKind.BLOCK_STRING: "STRING",
    TokenKind.PIPE: "PIPE",
    TokenKind.AMP: "AMP",
}


def _parse_error(text: str, exc: GraphQLSyntaxError) -> dict[str, Any]:
    """graphql-ruby's parse error: ``Parse error on "}" (RCURLY) at [1, 5]``."""
    position = exc.positions[0] if exc.positions else len(text)  # type: ignore[index]
    lexer = Lexer(Source(text))
    token = lexer.token
    try:
        while token.kind != TokenKind.EOF and token.end <= position:
            token = lexer.advance()
    except GraphQLSyntaxError:
        token = lexer.token
    if token.kind == TokenKind.EOF:
        return {"message": "Unexpected end of document", "locations": []}
    value = token.value if token.value is not None else token.kind.value
    kind = _TOKEN_NAMES.get(token.kind, token.kind.name)
    return {
        "message": f'Parse error on "{value}" ({kind}) at [{token.line}, {token.column}]',
        "locations": [{"line": token.line, "column": token.column}],
    }
