"""Safe when shared: a password unless loopback, and a real Gradio server that gives a stranger nothing."""

from __future__ import annotations

import io
import json
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.ui import access
from app.ui.server import launch

PASSWORD = "correct horse ☃ battery"  # non-ASCII on purpose: compared as bytes, not as str
FILE_BYTES = b"label,text\nham,only-a-logged-in-user-may-read-this-7f3a\n"


def _no_prompt(text: str) -> str:
    raise AssertionError(f"asked for a password it did not need: {text!r}")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost.", "::ffff:127.0.0.1"]
)
def test_loopback_hosts(host: str) -> None:
    assert access.is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "fe80::1", "example.com", "", "128.0.0.1"]
)
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not access.is_loopback(host)


def test_loopback_runs_open_without_a_password() -> None:
    assert access.credentials("127.0.0.1", {}, _no_prompt) is None


def test_a_password_from_the_environment_applies_everywhere() -> None:
    env = {access.PASSWORD_VAR: "pw"}
    assert access.credentials("127.0.0.1", env, _no_prompt) == ("textlab", "pw")
    assert access.credentials("0.0.0.0", {**env, access.USER_VAR: " ana "}, _no_prompt) == ("ana", "pw")


def test_network_host_prompts_at_a_terminal() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "typed"

    assert access.credentials("0.0.0.0", {}, prompt) == ("textlab", "typed")
    assert len(asked) == 1 and "textlab" in asked[0]


def _refusal(host: str, env: dict[str, str], prompt, *, share: bool = False) -> str:
    with pytest.raises(access.AccessRefused) as refused:
        access.credentials(host, env, prompt, share=share)
    message = str(refused.value)
    assert "\n" not in message and access.PASSWORD_VAR in message
    return message


def test_network_host_without_password_or_terminal_is_refused() -> None:
    assert "--host 0.0.0.0" in _refusal("0.0.0.0", {}, None)
    # An empty variable is no password, nor is an empty answer or end of input at the prompt.
    _refusal("192.168.1.20", {access.PASSWORD_VAR: ""}, None)
    _refusal("0.0.0.0", {}, lambda _text: "")

    def closed(_text: str) -> str:
        raise EOFError

    _refusal("0.0.0.0", {}, closed)


def test_a_share_link_needs_a_password_even_on_loopback() -> None:
    assert "share link" in _refusal("127.0.0.1", {}, None, share=True)
    assert access.credentials("127.0.0.1", {access.PASSWORD_VAR: "pw"}, None, share=True) == ("textlab", "pw")


def test_checker_accepts_only_the_pair() -> None:
    check = access.checker("textlab", PASSWORD)
    assert check("textlab", PASSWORD)
    assert not check("textlab", PASSWORD[:-1])
    assert not check("textlab", "")
    assert not check("other", PASSWORD)


def test_cli_refuses_with_one_line_and_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(access.PASSWORD_VAR, raising=False)
    monkeypatch.setenv("TEXTLAB_DEBUG", "1")  # even in debug mode a refusal is a message, not a traceback
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # no terminal: nobody to ask
    assert main(["--workspace", str(tmp_path), "ui", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and access.PASSWORD_VAR in err
    assert "Traceback" not in err


# --- the real server -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    workspace = tmp_path_factory.mktemp("ws")
    secret = workspace / "uploads" / "secret.csv"
    secret.parent.mkdir()
    secret.write_bytes(FILE_BYTES)
    # Bound to loopback so nothing leaves this machine; the password comes the way a user gives it.
    environ = {access.PASSWORD_VAR: PASSWORD}
    app = launch(str(workspace), host="127.0.0.1", port=_free_port(), environ=environ, block=False)
    try:
        named = [d["api_name"] for d in app.config["dependencies"] if d.get("api_name")]
        yield {
            "url": app.local_url.rstrip("/"),
            "workspace": workspace,
            "file": f"/gradio_api/file={secret.resolve()}",
            "api_name": named[0],
            "environ": environ,
        }
    finally:
        app.close()


def _unauthenticated_requests(server: dict) -> list[tuple[str, str, dict]]:
    return [
        ("GET", "/config", {}),
        ("GET", "/gradio_api/info", {}),
        ("GET", "/gradio_api/openapi.json", {}),
        ("GET", server["file"], {}),
        ("POST", f"/gradio_api/call/{server['api_name']}", {"json": {"data": []}}),
        ("POST", "/gradio_api/queue/join", {"json": {"data": [], "fn_index": 0, "session_hash": "stranger"}}),
        ("POST", "/gradio_api/upload", {"files": {"files": ("x.csv", b"a,b\n")}}),
    ]


def _refused(response: httpx.Response) -> bool:
    redirect_to_login = response.is_redirect and "login" in response.headers.get("location", "")
    return response.status_code in (401, 403) or redirect_to_login


def test_a_stranger_gets_no_page_no_api_and_no_file(server: dict) -> None:
    with httpx.Client(base_url=server["url"], follow_redirects=False, timeout=30) as stranger:
        for method, path, kwargs in _unauthenticated_requests(server):
            response = stranger.request(method, path, **kwargs)
            assert _refused(response), (method, path, response.status_code, response.text[:200])
            assert FILE_BYTES not in response.content and b"keras-textlab" not in response.content
        # "/" answers with Gradio's login shell (its JS draws the form): not the app, nor its API schema.
        page = stranger.get("/")
        assert page.status_code == 200
        config = json.loads(re.search(r"window\.gradio_config = (.*?);</script>", page.text).group(1))
        assert config["auth_required"] is True and config["components"] == [] and config["dependencies"] == []
        assert re.search(r"window\.gradio_api_info = \{\};</script>", page.text)
        assert "keras-textlab" not in page.text and server["api_name"] not in page.text
        assert str(server["workspace"]) not in page.text
        # A wrong password opens nothing either.
        wrong = stranger.post("/login", data={"username": "textlab", "password": PASSWORD + "x"})
        assert wrong.status_code == 400
        assert stranger.get("/config").status_code == 401


def test_a_logged_in_session_gets_the_page_and_the_file(server: dict) -> None:
    with httpx.Client(base_url=server["url"], follow_redirects=False, timeout=30) as user:
        login = user.post("/login", data={"username": "textlab", "password": PASSWORD})
        assert login.status_code == 200 and login.json() == {"success": True}
        page = user.get("/")
        assert page.status_code == 200 and "keras-textlab" in page.text
        assert server["api_name"] in page.text  # the real app, with its endpoints
        assert user.get("/config").status_code == 200
        info = user.get("/gradio_api/info")
        assert info.status_code == 200 and f"/{server['api_name']}" in info.json()["named_endpoints"]
        download = user.get(server["file"])
        assert download.status_code == 200 and download.content == FILE_BYTES


def test_the_password_stays_in_memory(server: dict) -> None:
    # Taken out of the environment so training processes (which inherit it) never see it ...
    assert access.PASSWORD_VAR not in server["environ"]
    # ... and nothing in the workspace holds it, after a login included.
    needle = PASSWORD.encode()
    for path in server["workspace"].rglob("*"):
        assert not path.is_file() or needle not in path.read_bytes(), path
