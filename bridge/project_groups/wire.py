"""HTTP/1.1 messages: a request head parsed strictly, a reply encoded safely.

Request smuggling needs leniency somewhere, so there is none: CRLF line ends only, no obs-fold,
token header names, visible ASCII in the target, one Host, at most one Content-Length of ASCII
digits, and no Transfer-Encoding at all (the bridge's endpoints take no body). Anything else is a
``Refusal``: the server answers it in JSON and closes the connection, so nothing behind a bad
request is ever read as the next one. A reply header that could split the response (a control
character from ``server.external_url``, say) is refused at ``encode`` as a last line of defence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_REQUEST_LINE = re.compile(rb"(" + _TCHAR + rb"+) ([\x21-\x7e]+) HTTP/1\.([01])")
_OTHER_VERSION = re.compile(rb"(" + _TCHAR + rb"+) ([\x21-\x7e]+) HTTP/\d\.\d")
_FIELD = re.compile(rb"(" + _TCHAR + rb"+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*")
_ABSOLUTE = re.compile(r"https?://[^/?#]*", re.IGNORECASE)
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_NO_BODY = frozenset([204, 304])


@dataclass(frozen=True, slots=True)
class Reply:
    """Status, JSON-able body and extra headers."""

    status: int
    body: object  # JSON-able, or bytes sent as they are
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One request as received: ``target`` is the path and query as sent."""

    method: str
    target: str
    headers: Mapping[str, str]  # lower-case names; a repeated field's values joined by ", "
    client: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What one peer may cost the server (seconds, counts, bytes)."""

    header_timeout: float = 10.0
    idle_timeout: float = 15.0
    max_connections: int = 512  # stays under systemd's default soft limit of 1,024 descriptors
    workers: int = 16
    max_head: int = 16_384
    max_target: int = 8_192
    max_fields: int = 100
    max_body: int = 65_536


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """A parsed request head and what it says about the connection."""

    request: Request
    body: int  # declared body bytes, to read and drop
    keep_alive: bool
    expects: bool  # Expect: the client may hold its body back, so it is never read

    @property
    def closes(self) -> bool:
        """Close after answering: the client asked to, or its body was never read."""
        return not self.keep_alive or bool(self.body and self.expects)


class Refusal(Exception):
    """A request the server answers itself, then closes the connection."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def head_end(buffer: bytes | bytearray) -> int:
    """Where a head ends (after its blank line), or -1. A bare-LF blank line counts too, so
    ``parse_head`` refuses it at once rather than waiting for a CRLF that never comes."""
    ends = [i + n for i, n in ((buffer.find(b"\n\r\n"), 3), (buffer.find(b"\n\n"), 2)) if i >= 0]
    return min(ends) if ends else -1


def parse_head(raw: bytes, client: str, limits: Limits) -> Head:
    """Parse a request head (request line to the blank line); Refusal for anything unusual."""
    lines = raw.split(b"\r\n")
    if lines[-2:] != [b"", b""] or any(b"\n" in line or b"\r" in line for line in lines):
        raise Refusal(400, "lines must end with CRLF")
    if len(lines[0]) > limits.max_target + 16:
        raise Refusal(414, f"the request target is over {limits.max_target} bytes")
    start = _REQUEST_LINE.fullmatch(lines[0])
    if start is None:
        if _OTHER_VERSION.fullmatch(lines[0]):
            raise Refusal(505, "only HTTP/1.0 and HTTP/1.1 are served")
        raise Refusal(400, "malformed request line")
    headers = _fields(lines[1:-2], limits)
    version = int(start.group(3))
    if "transfer-encoding" in headers:
        raise Refusal(400, "Transfer-Encoding is not accepted")
    if version == 1 and "host" not in headers:
        raise Refusal(400, "an HTTP/1.1 request needs a Host")
    body = _content_length(headers.get("content-length"), limits)
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    request = Request(
        method=start.group(1).decode(),
        target=_origin_form(start.group(2).decode()),
        headers=headers,
        client=client,
    )
    keep = "keep-alive" in tokens if version == 0 else "close" not in tokens
    return Head(request=request, body=body, keep_alive=keep, expects="expect" in headers)


def _fields(lines: list[bytes], limits: Limits) -> dict[str, str]:
    if len(lines) > limits.max_fields:
        raise Refusal(431, f"more than {limits.max_fields} header fields")
    headers: dict[str, str] = {}
    for line in lines:
        found = _FIELD.fullmatch(line)
        if found is None:
            raise Refusal(400, "malformed header field")
        name, value = found.group(1).decode().lower(), found.group(2).decode("latin-1")
        if name in headers and name in ("host", "content-length"):
            raise Refusal(400, f"more than one {name}")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _content_length(value: str | None, limits: Limits) -> int:
    if value is None:
        return 0
    if not re.fullmatch(r"[0-9]{1,15}", value):
        raise Refusal(400, "Content-Length must be one number")
    if int(value) > limits.max_body:
        raise Refusal(413, f"bodies over {limits.max_body} bytes are not accepted")
    return int(value)


def _origin_form(target: str) -> str:
    """The path and query; an absolute-form target (RFC 9112 3.2.2) loses its scheme and host."""
    if target.startswith("/"):
        return target
    found = _ABSOLUTE.match(target)
    if found is None:
        raise Refusal(400, "the request target must be a path")
    rest = target[found.end() :]
    return rest if rest.startswith("/") else "/" + rest


def encode(reply: Reply, *, head_only: bool, close: bool, keep_alive_1_0: bool = False) -> bytes:
    """The response bytes; ValueError for a header that could split the response."""
    for name, value in reply.headers:
        if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
            raise ValueError(f"header {name!r} would split the response")
    body = reply.body if isinstance(reply.body, bytes) else _json(reply.body)
    lines = [f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}"]
    lines.append(f"Date: {formatdate(usegmt=True)}")
    if reply.status in _NO_BODY:
        body = b""
    else:
        lines += [f"Content-Type: {reply.content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in reply.headers]
    if close:
        lines.append("Connection: close")
    elif keep_alive_1_0:
        lines.append("Connection: keep-alive")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


def refusal(status: int, reason: str) -> bytes:
    """The JSON answer to a request the server refuses, with ``Connection: close``."""
    message = f"{status} {HTTPStatus(status).phrase}: {reason}"
    return encode(Reply(status, {"message": message}), head_only=False, close=True)


def _json(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
