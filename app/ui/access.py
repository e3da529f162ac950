"""Who may open the app: loopback needs no password, any other address (or a share link) must have one."""

from __future__ import annotations

import getpass
import hmac
import ipaddress
import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

PASSWORD_VAR = "TEXTLAB_PASSWORD"
USER_VAR = "TEXTLAB_USER"
DEFAULT_USER = "textlab"

# Gradio's login page is the app's HTML page with this config; it still embeds the whole API schema.
_LOGIN_PAGE = b'window.gradio_config = {"auth_required":true'
_API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)
_NO_API_INFO = b"window.gradio_api_info = {};</script>"


class AccessRefused(RuntimeError):
    """The app would be reachable from other machines without a password; the message says what to set."""


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable from this machine only (localhost, 127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        # Any other name resolves to whatever DNS says, possibly a public interface: not loopback.
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def terminal_prompt() -> Callable[[str], str] | None:
    """``getpass.getpass`` when someone is at a terminal to answer it, else None (a service, a pipe, CI)."""
    try:
        return getpass.getpass if sys.stdin is not None and sys.stdin.isatty() else None
    except (AttributeError, ValueError):  # stdin replaced by an object without isatty, or closed
        return None


def credentials(
    host: str,
    environ: Mapping[str, str],
    prompt: Callable[[str], str] | None,
    *,
    share: bool = False,
) -> tuple[str, str] | None:
    """(user, password) the app must ask for, or None when it may run open; raises AccessRefused when it
    would be reachable from elsewhere (a non-loopback ``host`` or a share link) with no password to use."""
    user = environ.get(USER_VAR, "").strip() or DEFAULT_USER
    password = environ.get(PASSWORD_VAR, "")
    if password:
        # Applied on loopback too: whoever set it asked for it.
        return user, password
    if is_loopback(host) and not share:
        return None
    where = "a share link" if share else f"--host {host}"
    if prompt is not None:
        try:
            password = prompt(f"Password for user '{user}' (the app is reachable from other machines): ")
        except EOFError:
            password = ""
        if password:
            return user, password
    how = "type one at the prompt" if prompt is not None else "start it from a terminal to be asked"
    raise AccessRefused(
        f"{where} makes the app reachable from other machines, so it needs a password: set {PASSWORD_VAR} "
        f"(and optionally {USER_VAR}, default '{DEFAULT_USER}') or {how}"
    )


def checker(user: str, password: str) -> Callable[[str, str], bool]:
    """Gradio's ``auth`` callable: the password stays in this closure, in memory only."""
    expected_user, expected_password = user.encode(), password.encode()

    def check(username: str, given: str) -> bool:
        # Both compared in constant time and both always compared: the timing tells nothing.
        user_ok = hmac.compare_digest(username.encode(), expected_user)
        password_ok = hmac.compare_digest(given.encode(), expected_password)
        return user_ok and password_ok

    return check


Message = dict[str, Any]


class HideApiOnLoginPage:
    """ASGI middleware: the login page, served to anyone, gets an empty API schema instead of every endpoint's
    name, labels and defaults (Gradio guards /gradio_api/info but embeds the same data in that page)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def filtered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(b"text/html"):
                    start = message  # held back until the whole page is here
                    return
            if start is None or message["type"] != "http.response.body":
                await send(message)  # anything else (JSON, files, event streams) passes as it comes
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            if _LOGIN_PAGE in body:
                body = _API_INFO.sub(_NO_API_INFO, body, count=1)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, filtered)
