"""The real app in a subprocess: loopback only, no share link; two runs side by side; the UI answers meanwhile.

One server for the module (starting it is the expensive part). Runs start through models.engine.launcher.launch, as
the Train tab's Start button does; response times are measured while both train and printed (run pytest -s).
"""

from __future__ import annotations

import json
import socket
import statistics
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.run_dir import RunDir
from tests.conftest import make_sentiment_csv
from tests.reliability.helpers import AppServer, tiny_config

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
RESPONSIVE_S = 5.0  # generous: a behaviour check on a loaded two-core machine, not a benchmark
EPOCHS = 20  # 240 steps each on the generated sentiment data: ~10 s of training, so both runs overlap


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    server = AppServer(tmp_path_factory.mktemp("live") / "workspace")
    try:
        yield server
    finally:
        server.stop()


def _listening(port: int) -> set[str]:
    """Addresses with a socket listening on ``port`` (IPv4 and IPv6), from /proc/net/tcp{,6}."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        if not Path(table).exists():
            pytest.skip("needs Linux /proc/net/tcp")
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8))
                found.add(socket.inet_ntop(family, raw))
    return found


def _outward_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing); None if only loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_serves_loopback_only_and_opens_no_share_link(app: AppServer) -> None:
    from app.cli import build_parser

    assert _listening(app.port) == {"127.0.0.1"}
    socket.create_connection(("127.0.0.1", app.port), timeout=5).close()
    outward = _outward_address()
    if outward is not None:  # the same port on the machine's network address: nobody listens there
        with pytest.raises(OSError):
            socket.create_connection((outward, app.port), timeout=5).close()
    with urllib.request.urlopen(f"{app.url}/config", timeout=10) as response:
        config = json.loads(response.read())
    assert not config.get("share_url") and not config.get("is_share", False)
    assert "gradio.live" not in app.output() and "public URL" not in app.output()
    defaults = build_parser().parse_args(["ui"])
    assert (defaults.host, defaults.share) == ("127.0.0.1", False)


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        response.read()


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def test_two_runs_side_by_side_while_the_ui_stays_responsive(app: AppServer, tmp_path: Path) -> None:
    from gradio_client import Client

    from models.engine.launcher import launch

    data = make_sentiment_csv(tmp_path / "sentiment.csv")
    configs = []
    for _ in range(2):  # the same settings and name twice, as a double click on Start would give
        config = tiny_config(app.workspace, data)
        config.name, config.train.epochs, config.train.checkpoint_every = "twin", EPOCHS, 5
        config.train.early_stopping_patience = None  # every epoch runs: the step count below is exact
        configs.append(config)
    runs = [launch(config) for config in configs]
    assert runs[0].path != runs[1].path and runs[0].path.parent == runs[1].path.parent

    def training() -> bool:
        return all(r.status().get("state") == "running" and (r.status().get("step") or 0) > 0 for r in runs)

    _wait(training, 300, f"both runs to train: {[r.status() for r in runs]}")
    client = Client(app.url, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    refresh = next(  # the Runs tab's (it lists every run, reads each one's files, filters and sorts)
        name
        for name, info in endpoints.items()
        if "refresh" in name and {"words", "sort"} <= {p["parameter_name"] for p in info["parameters"]}
    )
    runs_shown = dict(current=[], words="", sort="newest first", picked=None)
    page_s, api_s = [], []
    while training() and len(page_s) < 8:
        page_s.append(_timed(lambda: _get(app.url)))
        api_s.append(_timed(lambda: client.predict(**runs_shown, api_name=refresh)))
    assert page_s, "the runs finished before the UI could be measured; raise EPOCHS"
    print(
        f"\nUI while two runs train: page GET median {statistics.median(page_s):.2f} s, max {max(page_s):.2f} s;"
        f" Runs-tab refresh ({refresh}) median {statistics.median(api_s):.2f} s, max {max(api_s):.2f} s"
        f" ({len(page_s)} samples)"
    )
    assert max(page_s) < RESPONSIVE_S and max(api_s) < RESPONSIVE_S

    _wait(
        lambda: all(r.status().get("state") in ("completed", "failed") for r in runs), 400, "both runs to end"
    )
    for run in runs:
        status = run.status()
        assert status["state"] == "completed", (status, (run.path / "train.log").read_text()[-2000:])
        steps = [r["step"] for r in run.metrics() if r.get("kind") == "step"]
        total = status["total_steps"]
        assert steps == list(range(1, total + 1)), "each metrics file holds one run's steps, once each"
        assert run.model_path.is_file() and (run.tokenizer_dir / "vocab.txt").is_file()
    assert {p.name for p in (app.workspace / "runs").iterdir()} == {r.id for r in runs}
    assert RunDir(runs[0].path).status()["started"] != RunDir(runs[1].path).status()["started"]


def test_browser_upload_of_a_bad_file_shows_the_message(app: AppServer, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    bad = tmp_path / "notes.csv"
    bad.write_bytes("text,label\ncafé,a\n".encode("utf-16-le"))  # UTF-16 without a byte-order mark
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(app.url)
            page.locator("#data-upload input[type=file]").set_input_files(str(bad))
            error = page.locator("#data-error")
            sync_api.expect(error).to_contain_text("notes.csv", timeout=60_000)
            text = error.inner_text()
        finally:
            browser.close()
    assert "is not a text file" in text and "re-save it as UTF-8" in text and "Traceback" not in text
    assert "What to do" in text
