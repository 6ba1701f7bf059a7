"""What keeps a local server from being everyone's: the token (exchanged for an HttpOnly,
SameSite=Strict cookie), the Host allowlist against DNS rebinding, the Origin check on every
request that changes something, JSON-only API bodies, the response headers, and paths confined to
the configured roots. Every refusal is one sentence with a 4xx."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from vsr.serve.web_options import Refused

COOKIE = "vsr_token"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[Request], Awaitable[Response]]


def refusal(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=HEADERS)


class Guard:
    """The checks every request passes, in order: Host, token, Origin, body type."""

    def __init__(self, *, token: str | None, hosts: set[str]) -> None:
        self.token, self.hosts = token, hosts

    def origins(self) -> set[str]:
        return {f"http://{h}" for h in self.hosts}

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        host = request.headers.get("host", "")
        if host.lower() not in self.hosts:
            return refusal(f"this server does not answer to the host {host!r}", 403)
        if self.token is not None:
            given = request.cookies.get(COOKIE) or _bearer(request) or ""
            query = request.query_params.get("token")
            if query is not None and _same(query, self.token) and request.method == "GET":
                # The link with the token: swapped for a cookie, and the token out of the address bar.
                target = request.url.remove_query_params("token")
                response: Response = RedirectResponse(str(target.path) + (f"?{target.query}" if target.query else ""),
                                                      status_code=303, headers=HEADERS)
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
                return response
            if not _same(given, self.token):
                return refusal("a token is needed: open the address vsr serve printed, or send "
                               "'Authorization: Bearer TOKEN'", 401)
        if request.method in CHANGES:
            origin = request.headers.get("origin")
            if origin is not None and origin not in self.origins():
                return refusal(f"requests from {origin} may not change anything here", 403)
            if origin is None and request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
                return refusal("requests from another site may not change anything here", 403)
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def under_roots(given: str, roots: tuple[Path, ...]) -> Path:
    """The path a client named, resolved (symlinks followed), if it lies inside one of the roots;
    Refused otherwise (an allowlist: a symlink out of a root is out)."""
    if not roots:
        raise Refused("this server reads no folders of its own (start it with --root DIR); upload the file", 403)
    if not isinstance(given, str) or not given or "\0" in given:
        raise Refused("input must be a path under one of the server's folders", 400)
    path = Path(given)
    candidates = [path] if path.is_absolute() else [root / path for root in roots]
    for candidate in candidates:
        resolved = candidate.resolve()
        if any(resolved.is_relative_to(root) for root in roots):
            if not resolved.exists():
                raise Refused(f"{given}: no such file or folder", 404)
            return resolved
    raise Refused(f"{given}: outside the folders this server may read", 403)


def json_body_required(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refused("the body must be JSON (Content-Type: application/json)", 415)
