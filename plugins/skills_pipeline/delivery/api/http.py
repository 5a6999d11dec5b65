"""HTTP details shared by the routes: ETags and conditional answers, gzip on the hot path, errors as exceptions."""

import datetime as dt
import gzip
import hashlib

from fastapi import HTTPException, Request
from fastapi.responses import Response

JSON = "application/json"
JSON_HEADER = (b"content-type", JSON.encode())
GZIP_MINIMUM_BYTES = 1_000  # below this, gzip's header and the CPU cost more than the bytes saved
# Answers may be kept by the client but checked again each time (ETag): a document changes when a night publishes.
CACHE_CONTROL = "private, no-cache"


def problem(status: int, detail: str, headers: dict | None = None) -> HTTPException:
    """An error answer; delivery/problems.py renders it as an RFC 9457 problem document."""
    return HTTPException(status_code=status, detail=detail, headers=headers)


def etag_of(body: bytes | str) -> str:
    """A strong validator of a response body: 128 bits of BLAKE2b (a few microseconds for a document)."""
    data = body.encode() if isinstance(body, str) else body
    return '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: a list of validators or *, compared weakly (W/ prefixes ignored)."""
    if not if_none_match:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag in wanted


def conditional(request: Request, body: bytes | str) -> Response:
    """The JSON body with its ETag, or 304 Not Modified when the client already holds it (If-None-Match)."""
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSON, headers=headers)


def hot_path_response(scope, body: bytes | str) -> tuple[int, list, bytes]:
    """What the route would answer for a found document, without the route: its ETag (304 to a matching
    If-None-Match) and gzip for a client that accepts it, as conditional() and the GZip middleware do."""
    data = body.encode() if isinstance(body, str) else body
    etag = etag_of(data)
    if_none_match = accept_encoding = None
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if_none_match = value.decode("latin-1")
        elif name == b"accept-encoding":
            accept_encoding = value.decode("latin-1")
    headers = [(b"etag", etag.encode()), (b"cache-control", CACHE_CONTROL.encode())]
    if etag_matches(if_none_match, etag):
        return 304, headers, b""
    headers.append(JSON_HEADER)
    if accept_encoding and "gzip" in accept_encoding.lower() and len(data) >= GZIP_MINIMUM_BYTES:
        data = gzip.compress(data, compresslevel=5, mtime=0)
        headers += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
    headers.append((b"content-length", str(len(data)).encode()))
    return 200, headers, data


def plain(value):
    """JSON for what PostgreSQL returns: dates as ISO text, numerics as numbers."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return float(value)
