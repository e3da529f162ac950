"""End to end: the real app in a subprocess, driven by headless Chromium through every tab.

The tests share one app and one page but not their results: each brings what it needs (a dataset it uploads,
a run trained through the CLI beside the app), so any one of them runs alone or in any order."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.run_dir import run_dirs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "assets" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MAX_STEPS = 240  # 10 epochs of the tiny dataset: long enough that a Stop lands mid-run on a fast machine
UI_RUN_NAME = "ui-live"
CLI_RUN_NAME = "cli-classifier"
SPAM = [
    "win a free prize now",
    "claim your cash reward today",
    "urgent call now to win",
    "free entry in a draw",
]
HAM = [
    "see you at lunch tomorrow",
    "can you pick up milk",
    "the meeting moved to three",
    "i will be home late",
]

sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(
        "Chromium is not installed at /usr/bin/chromium (run `make browser`)", allow_module_level=True
    )


class AppProcess:
    """`python -m app --workspace WS ui --port P` in its own process group."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = _child_env()
        self.log = open(workspace.parent / f"app-{self.port}.log", "wb")  # noqa: SIM115  closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "--workspace", str(workspace), "ui", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the app exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"the app did not answer on {self.url}:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def _child_env() -> dict[str, str]:
    """The app (and training it starts) runs on TensorFlow here; this test process sets no backend."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _start_cli_run(workspace: Path, base: Path, name: str, *flags: str) -> subprocess.Popen:
    """A tiny run trained through the CLI alongside the app (its output in <base>/<name>.log)."""
    command = [sys.executable, "-m", "app", "--workspace", str(workspace), "train", "--name", name, "--quiet"]
    log = open(base / f"{name}.log", "wb")  # noqa: SIM115  the child owns it
    process = subprocess.Popen(
        command + list(flags), cwd=ROOT, env=_child_env(), stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return process


def _start_lm_run(workspace: Path, base: Path) -> subprocess.Popen:
    """A tiny causal LM: the Playground streams text from it."""
    words = "the king and the queen walk to the castle where a knight waits for the morning light".split()
    lines = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(12)) for i in range(300)]
    corpus = base / "tiny_corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    flags = ["--task", "causal_lm", "--data", str(corpus), "--max-steps", "40", "--seq-len", "32"]
    return _start_cli_run(workspace, base, "lm", *flags, "--batch-size", "8")


def _start_classifier_run(workspace: Path, base: Path) -> subprocess.Popen:
    """A tiny classifier on the same data the UI test uploads: the Playground, Export and Runs tests use it."""
    data = _write_dataset(base / "cli_spam.csv")
    flags = ["--task", "classifier", "--data", str(data), "--max-steps", "40", "--seq-len", "64"]
    return _start_cli_run(workspace, base, CLI_RUN_NAME, *flags, "--batch-size", "16")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_dataset(path: Path) -> Path:
    rows = ["text,label"]
    for i in range(480):
        words = SPAM[i % len(SPAM)] if i % 2 else HAM[i % len(HAM)]
        rows.append(f'"{words} {i}",{"spam" if i % 2 else "ham"}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One app, one browser page and a workspace shared by the ordered tests below."""
    base = tmp_path_factory.mktemp("ui")
    workspace = base / "workspace"
    # First, so they are mostly done by the time a test needs them.
    children = {"lm": _start_lm_run(workspace, base), CLI_RUN_NAME: _start_classifier_run(workspace, base)}
    app = AppProcess(workspace)
    state: dict = {"workspace": workspace, "app": app, "base": base, "external": [], "children": children}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.set_default_timeout(30_000)
        page.on("request", lambda r: _note_external(state, r.url))
        page.goto(app.url)
        state["page"], state["browser"] = page, browser
        try:
            yield state
        finally:
            browser.close()
            state["app"].stop()
            for child in children.values():
                if child.poll() is None:
                    child.kill()
                    child.wait()


def _note_external(state: dict, url: str) -> None:
    if not url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:")):
        state["external"].append(url)


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def _wait_text(page, selector: str, pattern: str, timeout: float = 60.0) -> str:
    """Poll an element until its text matches ``pattern`` (regex); returns the text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _text(page, selector)
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(250)
    raise AssertionError(f"{selector} never matched {pattern!r}; last text: {text!r}")


def _wait_value(page, selector: str, expected: str, timeout: float = 60.0) -> str:
    """Poll a dropdown until its shown value contains ``expected``."""
    deadline = time.monotonic() + timeout
    value = ""
    while time.monotonic() < deadline:
        value = page.locator(f"{selector} input").first.input_value()
        if expected in value:
            return value
        page.wait_for_timeout(250)
    raise AssertionError(f"{selector} never showed {expected!r}; last value: {value!r}")


def _pick(page, selector: str, text: str) -> None:
    """Choose the option containing ``text`` in a Gradio dropdown (choices refreshed first)."""
    refresh = selector.replace("-run", "-refresh")
    if page.locator(refresh).count():
        page.locator(refresh).click()
        page.wait_for_timeout(500)
    page.locator(f"{selector} input").click()
    page.get_by_role("option", name=text).click()


def _points(page) -> int:
    match = re.search(r"(\d+) chart points", _text(page, "#train-progress"))
    return int(match.group(1)) if match else 0


def _fill(page, selector: str, value: str) -> None:
    box = page.locator(f"{selector} input[type=number]")
    box.fill(value)
    box.press("Tab")


def _run_named(workspace: Path, name: str) -> Path:
    """The one run directory whose config.json has ``name``."""
    runs = workspace / "runs"
    found = sorted(p for p in runs.iterdir() if (p / "config.json").is_file()) if runs.is_dir() else []
    (run,) = [p for p in found if json.loads((p / "config.json").read_text())["name"] == name]
    return run


def _cli_run(session: dict, name: str) -> Path:
    """Wait for the CLI run ``name`` the session started, then its run directory (it must have completed)."""
    child = session["children"][name]
    log = session["base"] / f"{name}.log"
    assert child.wait(timeout=240) == 0, log.read_text(errors="replace")[-3000:]
    return _run_named(session["workspace"], name)


def _upload(page, path: Path) -> None:
    """Load ``path`` on the Data tab, as a user dropping the file would."""
    page.get_by_role("tab", name="Data").click()
    page.locator("#data-upload input[type=file]").set_input_files(str(path))
    _wait_text(page, "#data-source", re.escape(path.name))


def test_first_launch_preloads_the_demo_and_binds_loopback_only(session: dict) -> None:
    from app.ui.files import demo_datasets

    page = session["page"]
    page.goto(session["app"].url)  # a fresh load, whatever the tests before it did
    demos = demo_datasets()
    if demos:
        _wait_text(page, "#data-source", re.escape(next(iter(demos))))
        _wait_text(page, "#data-stats", r"rows")
    port = session["app"].port
    listening = _listening_addresses(port)
    assert listening == {"127.0.0.1"}, f"port {port} is bound on {listening}"
    assert session["external"] == [], f"the page fetched from outside this machine: {session['external']}"


def test_the_ui_speaks_the_browsers_language(session: dict) -> None:
    context = session["browser"].new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(session["app"].url)
        page.get_by_role("tab", name="训练", exact=True).click()
        sync_api.expect(page.locator("#train-start")).to_have_text("开始训练")
        sync_api.expect(page.locator("#train-epochs")).to_contain_text("训练轮数")
        assert page.get_by_role("tab", name="Train").count() == 0
        # Switchable: Settings (the footer's last link) lists the languages; English is one choice away.
        language = page.locator("input[role=combobox]").last  # the Language choice, below the tabs' own
        for attempt in range(3):  # a click on the footer can land before its handler is attached: retry it
            page.locator("footer button, footer a").last.click()
            try:
                sync_api.expect(language).to_have_value("简体中文", timeout=4000)
                break
            except AssertionError:
                if attempt == 2:
                    raise
                page.keyboard.press("Escape")
        language.click()
        page.get_by_role("option", name="English", exact=True).click()
        page.keyboard.press("Escape")
        sync_api.expect(page.get_by_role("tab", name="Train")).to_be_visible()
        sync_api.expect(page.locator("#train-start")).to_have_text("Start training")
    finally:
        context.close()
    sync_api.expect(session["page"].get_by_role("tab", name="Train")).to_be_visible()  # English stays English


def _listening_addresses(port: int) -> set[str]:
    """IPv4/IPv6 addresses with a socket listening on ``port``, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            pytest.skip("needs Linux /proc/net/tcp to see the bound address")
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                if len(address) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8))
                    found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


def test_upload_shows_errors_plainly_then_preview_and_stats(session: dict) -> None:
    page, base = session["page"], session["base"]
    page.get_by_role("tab", name="Data").click()
    bad = base / "bad.csv"
    bad.write_text("text,label\n,spam\n  ,ham\n", encoding="utf-8")
    page.locator("#data-upload input[type=file]").set_input_files(str(bad))
    error = _wait_text(page, "#data-error", r"bad\.csv")
    assert "Traceback" not in error and "What to do" in error
    good = _write_dataset(base / "tiny_spam.csv")
    page.locator("#data-upload input[type=file]").set_input_files(str(good))
    _wait_text(page, "#data-source", r"tiny_spam\.csv · 480 rows · 2 classes")
    assert not page.locator("#data-error").is_visible()
    sync_api.expect(page.get_by_text("claim your cash reward today 1", exact=True).first).to_be_visible()
    _wait_text(page, "#data-stats", r"num classes\s+2")
    # Drawn, not only placed: a bar per class (a chart Vega sized to zero width has none).
    bars = page.locator("#data-balance svg path[aria-roledescription=bar]")
    sync_api.expect(bars).to_have_count(2)
    assert bars.first.bounding_box()["width"] > 20
    assert (session["workspace"] / "uploads" / "tiny_spam.csv").read_bytes() == good.read_bytes()
    _shot(page, "data")


def _axis_labels(page, selector: str) -> list[str]:
    """The x-axis tick labels drawn in a chart's SVG (Vega names each axis group in its aria-label)."""
    axis = f"{selector} svg g.role-axis[aria-label^='X-axis'] g.role-axis-label text"
    return page.locator(axis).all_text_contents()


def _wait_labels(page, selector: str, expected: list[str], timeout: float = 30.0) -> list[str]:
    """Poll a chart until every one of ``expected`` is among its drawn axis labels."""
    deadline = time.monotonic() + timeout
    labels: list[str] = []
    while time.monotonic() < deadline:
        labels = _axis_labels(page, selector)
        if set(expected) <= set(labels):
            return labels
        page.wait_for_timeout(250)
    raise AssertionError(f"{selector} never drew {expected}; it shows {labels}")


def _val_points(page, selector: str, series: str = "val loss") -> int:
    """Points drawn for ``series`` (Vega labels every point with its fields)."""
    points = page.locator(f"{selector} svg path[aria-roledescription=point]")
    return sum(
        1
        for label in points.evaluate_all("ps => ps.map(p => p.getAttribute('aria-label'))")
        if label and f"series: {series}" in label
    )


def test_a_second_upload_redraws_the_histogram_with_its_own_bins(session: dict) -> None:
    from app.ui import views

    page, base = session["page"], session["base"]
    short, long = base / "short_texts.csv", base / "long_texts.csv"
    short.write_text("text,label\n" + "".join(f"{'ab' * (2 + i % 3)},{i % 2}\n" for i in range(60)))
    long.write_text("text,label\n" + "".join(f"{'x' * (300 + i % 7)},{i % 2}\n" for i in range(60)))
    for path in (short, long, short):  # each upload must show its own bins, not the previous file's
        _upload(page, path)
        bins = views.length_histogram_frame(pd_read(path))["length"].tolist()
        labels = _wait_labels(page, "#data-lengths", bins)
        other = long if path == short else short
        assert not set(views.length_histogram_frame(pd_read(other))["length"]) & set(labels), labels
        _wait_apart(page, "#data-lengths")  # the axis labels are slanted, never drawn over each other
    _upload(page, _write_dataset(base / "tiny_spam.csv"))  # as the tests after this one expect


def _label_boxes(page, selector: str) -> list[dict]:
    """Screen boxes of a chart's visible x-axis labels."""
    axis = f"{selector} svg g.role-axis[aria-label^='X-axis'] g.role-axis-label text"
    return page.locator(axis).evaluate_all(
        """ts => ts.filter(t => getComputedStyle(t).opacity !== '0' && t.getAttribute('opacity') !== '0')
            .map(t => { const r = t.getBoundingClientRect();
                        return {text: t.textContent, x0: r.left, x1: r.right, y0: r.top, y1: r.bottom}; })"""
    )


def _wait_apart(page, selector: str, timeout: float = 15.0) -> None:
    """Poll a chart until it has drawn its x-axis labels (Vega lays them out after the marks), then
    assert that no two visible ones overlap."""
    deadline, overlapping = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        page.locator(selector).scroll_into_view_if_needed()
        boxes = _label_boxes(page, selector)
        overlapping = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if _overlap(a, b)]
        if boxes and not overlapping:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"{selector}'s axis labels overlap: {overlapping}")


def _overlap(a: dict, b: dict) -> bool:
    return a["x0"] < b["x1"] - 1 and b["x0"] < a["x1"] - 1 and a["y0"] < b["y1"] - 1 and b["y0"] < a["y1"] - 1


def pd_read(path: Path):
    import pandas as pd

    return pd.read_csv(path)


def test_after_an_error_nothing_of_the_previous_file_shows_and_names_stay_the_users(session: dict) -> None:
    page, base = session["page"], session["base"]
    page.get_by_role("tab", name="Data").click()
    _wait_text(page, "#data-source", r"tiny_spam\.csv")  # the previous test's file is shown
    assert page.locator("#data-text-column").is_visible() and page.locator("#data-preview").is_visible()
    bad = base / "empty_rows.csv"
    bad.write_text("text,label\n,spam\n  ,ham\n", encoding="utf-8")
    page.locator("#data-upload input[type=file]").set_input_files(str(bad))
    error = _wait_text(page, "#data-error", r"empty_rows\.csv")
    assert "uploads" not in error and str(session["workspace"]) not in error  # the name dropped, not our copy
    page.wait_for_timeout(1000)
    assert not page.locator("#data-text-column").is_visible()  # no columns of the previous file
    assert not page.locator("#data-preview").is_visible()  # and no empty "1 2 3" table
    chinese = base / "情感评论.csv"
    reviews = ["这部电影非常好看演员的表演很出色", "质量太差了用了两天就坏了不推荐"]
    rows = [f"{reviews[i % 2]}{i},{'好评' if i % 2 == 0 else '差评'}" for i in range(480)]
    chinese.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    page.locator("#data-upload input[type=file]").set_input_files(str(chinese))
    _wait_text(page, "#data-source", r"情感评论\.csv · 480 rows · 2 classes")
    assert page.locator("#data-text-column").is_visible() and page.locator("#data-preview").is_visible()
    assert (session["workspace"] / "uploads" / "情感评论.csv").read_bytes() == chinese.read_bytes()
    # Text without spaces: lengths in characters, no "words p50 1".
    stats = _wait_text(page, "#data-stats", r"length unit\s+characters")
    assert "words" not in stats, stats
    # A corpus: statistics per line, not "1 rows" and a million-character "p50".
    corpus = base / "speech.txt"
    corpus.write_text("".join(f"line number {i} of a long speech\n" for i in range(300)), encoding="utf-8")
    page.locator("#data-upload input[type=file]").set_input_files(str(corpus))
    stats = _wait_text(page, "#data-stats", r"lines\s+300")
    assert not re.search(r"(^|\s)rows\s+\d", stats) and "per line" in stats, stats
    # Leave the Data tab as the previous test did: the tests after this one train on the SMS file.
    page.locator("#data-upload input[type=file]").set_input_files(str(base / "tiny_spam.csv"))
    _wait_text(page, "#data-source", r"tiny_spam\.csv · 480 rows · 2 classes")


def test_train_live_chart_stop_resume_complete(session: dict) -> None:
    page, workspace = session["page"], session["workspace"]
    _upload(page, _write_dataset(session["base"] / "tiny_spam.csv"))
    page.get_by_role("tab", name="Train").click()
    _wait_text(page, "#train-data", r"tiny_spam\.csv")
    # Untouched, the form shows the recipe chosen from the data, with its reasons, before anything trains.
    _wait_text(
        page, "#train-estimate", r"Chosen from the data(.|\n)*n-gram features(.|\n)*covers \d+% of texts"
    )
    sync_api.expect(page.locator("#train-kind").get_by_label("linear")).to_be_checked()
    # This test needs a run slow enough to stop mid-way: the tiny Transformer, set by hand.
    page.locator("#train-recipe").get_by_role("checkbox").uncheck()
    page.locator("#train-kind").get_by_label("transformer").check()
    advanced = page.locator("#train-log-every")
    if not advanced.is_visible():
        page.get_by_text("Advanced").click()
    page.locator("#train-tokenizer").get_by_label("char").check()
    # Advanced shows the split, the seed and class weighting.
    for field in ("#train-val-fraction", "#train-test-fraction", "#train-seed"):
        sync_api.expect(page.locator(field)).to_be_visible()
    sync_api.expect(page.locator("#train-class-weight").get_by_label("balanced")).to_be_visible()
    for selector, value in (
        ("#train-epochs", "10"),
        ("#train-batch", "16"),
        ("#train-seq", "64"),
        ("#train-lr", "0.001"),
    ):
        _fill(page, selector, value)
    _fill(page, "#train-max-steps", str(MAX_STEPS))
    _fill(page, "#train-log-every", "2")
    page.locator("#train-name input, #train-name textarea").first.fill(UI_RUN_NAME)
    _wait_text(page, "#train-estimate", r"parameters .* batch 16, seq_len 64")
    # Before Start: the steps the run takes, and a warning when Max steps would cut the epochs short.
    _wait_text(page, "#train-estimate", r"24 per epoch × 10 epochs = 240")
    assert "stops training" not in _text(page, "#train-estimate")
    _fill(page, "#train-max-steps", "100")
    _wait_text(page, "#train-estimate", r"Max steps 100 stops training in epoch 4\.2 of 10")
    _fill(page, "#train-max-steps", str(MAX_STEPS))
    _wait_text(page, "#train-estimate", r"^(?![\s\S]*stops training)")
    page.locator("#train-start").click()

    # Points arrive while it trains, and the chart redraws with them.
    _wait_text(page, "#train-progress", r"running · step [1-9]\d*/", timeout=150)
    first = _wait_points(page, above=0)
    before = page.locator("#train-chart").screenshot()
    more = _wait_points(page, above=first)
    page.wait_for_timeout(1500)  # the chart draws after the text updates
    assert page.locator("#train-chart").screenshot() != before, (
        "the loss chart did not change as points arrived"
    )
    assert more > first

    page.locator("#train-stop").click()
    stopped = _wait_text(page, "#train-progress", r"stopped · step \d+", timeout=60)
    stopped_at = int(re.search(r"step (\d+)", stopped).group(1))
    assert 0 < stopped_at < MAX_STEPS
    run = _run_named(workspace, UI_RUN_NAME)
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"
    points_at_stop = _points(page)

    page.locator("#train-resume").click()
    # While the resumed run prepares data and compiles nothing is timed: no stale or wild ETA is shown.
    seen, deadline = [], time.monotonic() + 180
    while "completed" not in (text := _text(page, "#train-progress")) and time.monotonic() < deadline:
        seen.append(text)
        page.wait_for_timeout(200)
    assert "completed" in text, text
    early = [t for t in seen if re.search(r"resuming|preparing data", t) and re.search(r"ETA \d", t)]
    assert not early, early[:3]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "resumed" and r["step"] == stopped_at for r in records)
    assert max(r["step"] for r in records) > stopped_at
    page.wait_for_timeout(1500)
    assert _points(page) > points_at_stop
    assert (run / "model.keras").is_file() and (run / "eval.json").is_file()
    # The finished run's chart holds every validation point, the last one included, without a reload;
    # and the Stop + Resume added none: one point per epoch, each at the step its epoch ended.
    epochs = [r for r in records if r.get("kind") == "epoch"]
    assert [r["epoch"] for r in epochs] == list(range(1, len(epochs) + 1)), epochs
    deadline = time.monotonic() + 30
    while _val_points(page, "#train-chart") != len(epochs) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert _val_points(page, "#train-chart") == len(epochs) > 0
    assert _val_points(page, "#train-chart", "val macro f1") == len(epochs)  # the curve beside the loss
    labels = page.locator("#train-chart svg path[aria-roledescription=point]").evaluate_all(
        "ps => ps.map(p => p.getAttribute('aria-label'))"
    )
    assert f"step: {epochs[-1]['step']}; loss:" in " ".join(labels), labels
    _shot(page, "train")

    # Resume on the completed run is refused with a message; its history stays as it is.
    history = (run / "metrics.jsonl").read_text()
    page.locator("#train-resume").click()
    _wait_text(page, "#train-error", r"is completed: there is nothing to resume", timeout=30)
    page.wait_for_timeout(1500)
    assert (run / "metrics.jsonl").read_text() == history
    assert json.loads((run / "status.json").read_text())["state"] == "completed"


def _wait_points(page, above: int, timeout: float = 90.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        points = _points(page)
        if points > above:
            return points
        page.wait_for_timeout(200)
    raise AssertionError(f"the chart never got more than {above} points: {_text(page, '#train-progress')!r}")


def test_playground_classifies_with_probabilities_and_report(session: dict) -> None:
    page, run = session["page"], _cli_run(session, CLI_RUN_NAME)
    page.get_by_role("tab", name="Playground").click()
    _pick(page, "#play-run", run.name)
    _wait_text(page, "#play-info", re.escape(run.name))
    _wait_text(page, "#play-report", r"accuracy")
    # The test report drawn: the confusion matrix as a heatmap (a cell per true/predicted pair) and F1 bars.
    _wait_text(page, "#play-confusion", r"F1 per class")
    cells = page.locator("#play-confusion svg path[aria-roledescription='rect mark']").evaluate_all(
        "ps => ps.map(p => p.getAttribute('aria-label'))"
    )
    assert len(cells) == 4 and any("predicted: ham; true label: spam" in c for c in cells), cells
    bars = page.locator("#play-confusion svg path[aria-roledescription=bar]").count()
    assert bars == 2  # F1 of ham and of spam
    page.locator("#play-text textarea").fill("claim your cash reward today 99")
    page.locator("#play-classify").click()
    probs = _wait_text(page, "#play-probs", r"\d+(\.\d+)?%", timeout=90)
    assert "spam" in probs and "ham" in probs
    _shot(page, "playground")
    # No words, no answer: a clear message instead of a confident label.
    page.locator("#play-text textarea").fill("   ")
    page.locator("#play-classify").click()
    _wait_text(page, "#play-error", r"the text is empty: there is nothing to classify", timeout=30)


def test_playground_streams_text_from_a_language_model(session: dict) -> None:
    page, run = session["page"], _cli_run(session, "lm")
    page.get_by_role("tab", name="Playground").click()
    _pick(page, "#play-run", run.name)
    _wait_text(page, "#play-info", re.escape(run.name) + r".*causal_lm")
    prompt = "the king "
    page.locator("#play-prompt textarea").fill(prompt)
    _fill(page, "#play-temperature", "0")  # greedy: no early end-of-text by chance, as many tokens every time
    # The most tokens the slider allows: the numpy decoder writes a tiny model's 200 in well under a poll of the
    # page, so only a longer generation shows the text growing in steps.
    _fill(page, "#play-max-tokens", "1000")
    page.locator("#play-generate").click()
    lengths = [0]
    deadline, last_change = time.monotonic() + 120, time.monotonic()
    while time.monotonic() < deadline:  # until the text has grown and then stayed put for 5 s
        value = page.locator("#play-output textarea").input_value()
        if len(value) != lengths[-1]:
            lengths.append(len(value))
            last_change = time.monotonic()
            assert value.startswith(prompt)
        if len(value) > len(prompt) and time.monotonic() - last_change > 5:
            break
        page.wait_for_timeout(50)
    grown = [n for n in lengths if n > len(prompt)]
    assert len(grown) >= 2, f"the output did not stream: lengths seen {lengths}"
    _shot(page, "playground_lm")


def test_export_and_download_bundle(session: dict) -> None:
    page, run = session["page"], _cli_run(session, CLI_RUN_NAME)
    page.get_by_role("tab", name="Export").click()
    _pick(page, "#export-run", run.name)
    _wait_value(page, "#export-run", run.name)
    page.locator("#export-start").click()
    _wait_text(page, "#export-report", r"Exported", timeout=240)
    with page.expect_download(timeout=30_000) as download_info:
        page.locator("#export-file a").first.click()
    target = session["base"] / "bundle.zip"
    download_info.value.save_as(target)
    import zipfile

    with zipfile.ZipFile(target) as bundle:
        names = bundle.namelist()
    assert any(name.endswith(".tflite") for name in names), names
    _shot(page, "export")


def test_restart_finds_the_run(session: dict) -> None:
    page, run = session["page"], _cli_run(session, CLI_RUN_NAME)
    _cli_run(session, "lm")
    # A third run on disk (a copy of the classifier's), so the overlay has three runs to draw.
    copy = run.parent / f"{run.name}-copy"
    if not copy.exists():
        shutil.copytree(run, copy)
        config = json.loads((copy / "config.json").read_text())
        (copy / "config.json").write_text(json.dumps({**config, "name": f"{CLI_RUN_NAME}-copy"}))
    session["app"].stop()
    session["app"] = AppProcess(session["workspace"])
    page.goto(session["app"].url)
    page.get_by_role("tab", name="Runs").click()
    table = _wait_text(page, "#runs-table", re.escape(run.name), timeout=60)
    assert "completed" in table and "classifier" in table
    _wait_text(page, "#runs-selected", re.escape(run.name))
    page.wait_for_timeout(1500)  # let the overlay chart draw before the screenshot
    _shot(page, "runs")
    # Every selected run is drawn (one legend entry per run and curve); clearing the selection empties it.
    selected = page.locator("#runs-selected .token").count()
    legend = _wait_legend(
        page, "#runs-chart", lambda names: len({n.split(" · ")[0] for n in names}) == selected
    )
    # (a linear run is fitted in closed form: a val point, no train curve)
    assert {n.split(" · ")[0] for n in legend} == {f"run {i}" for i in range(1, selected + 1)}, legend
    assert selected >= 3, "the session trains three runs: all three are compared by default"
    # Their settings side by side: only what differs, each differing field of their config.json a row.
    from app.ui import views

    ids = re.findall(r"\d{8}-\d{6}-[\w.-]+", _text(page, "#runs-selected"))  # in the order numbered
    assert len(ids) == selected, ids
    configs = {
        f"run {i}": json.loads((run.parent / r / "config.json").read_text()) for i, r in enumerate(ids, 1)
    }
    expected = views.config_diff_frame(configs)["setting"].tolist()
    assert "model.kind" in expected, expected  # the UI's transformer beside the CLI's linear runs
    diff = _wait_text(page, "#runs-diff", r"model\.kind")
    shown = set(re.findall(r"^([a-z_]+(?:\.[a-z_]+)*)$", diff, re.M))
    assert set(expected) <= shown and "run 3" in diff, (expected, diff)
    assert not {"workspace", "recipe"} & shown, diff  # where a run lives and why a recipe chose: not settings
    while page.locator("#runs-selected .token-remove").count():
        page.locator("#runs-selected .token-remove").first.click()
        page.wait_for_timeout(300)
    _wait_legend(page, "#runs-chart", lambda names: not names)
    assert "no runs selected" in page.locator("#runs-chart svg.marks").text_content()
    _wait_text(page, "#runs-diff", r"\A(?![\s\S]*model\.kind)")  # and no settings to compare


def _wait_legend(page, selector: str, done, timeout: float = 30.0) -> list[str]:
    """Poll a chart's legend until ``done(names)`` holds; returns the names."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        names = page.locator(f"{selector} svg g.role-legend-label text").all_text_contents()
        if done(names):
            return names
        page.wait_for_timeout(250)
    raise AssertionError(f"{selector}'s legend stayed {names}")


def test_after_a_reload_start_cannot_silently_train_other_data_than_the_run_shown(session: dict) -> None:
    page, workspace = session["page"], session["workspace"]
    lm = _cli_run(session, "lm")
    page.goto(session["app"].url)  # a reload: the form is back on its defaults and the demo data
    page.get_by_role("tab", name="Train").click()
    _pick(page, "#train-run", lm.name)
    note = _wait_text(page, "#train-differs", re.escape(lm.name))
    assert "tiny_corpus.txt" in note and "Train again with these settings" in note, note
    page.locator("#train-again").click()
    _wait_text(page, "#train-data", r"tiny_corpus\.txt")
    sync_api.expect(page.locator("#train-differs")).to_be_hidden(timeout=30_000)
    source = json.loads((lm / "config.json").read_text())
    assert page.locator("#train-task input").input_value() == "Language model (generate text)"
    assert page.locator("#train-seq input[type=number]").input_value() == str(source["model"]["seq_len"])
    assert page.locator("#train-max-steps input[type=number]").input_value() == "40"
    assert not page.locator("#train-recipe").get_by_role("checkbox").is_checked()
    page.get_by_role("tab", name="Data").click()
    _wait_text(page, "#data-source", r"tiny_corpus\.txt")
    # Start now trains that run's data and settings, as a new run.
    page.get_by_role("tab", name="Train").click()

    def runs() -> set[str]:  # as the product lists them: the directory is made before its config.json
        return {run.id for run in run_dirs(workspace)}

    before = runs()
    page.locator("#train-start").click()
    deadline = time.monotonic() + 60
    while not (new := runs() - before) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert len(new) == 1, new
    run = workspace / "runs" / new.pop()
    config = json.loads((run / "config.json").read_text())
    assert (config["task"], config["data"]["path"]) == (source["task"], source["data"]["path"])
    assert config["model"] == {**source["model"], "vocab_size": config["model"]["vocab_size"]}
    assert config["train"] == source["train"]
    page.locator("#train-stop").click()
    _wait_text(page, "#train-progress", r"stopped|completed", timeout=120)


def test_runs_are_filtered_sorted_renamed_trained_more_and_deleted(session: dict) -> None:
    page, workspace = session["page"], session["workspace"]
    runs = workspace / "runs"
    copy = next(p for p in runs.iterdir() if p.name.endswith(f"{CLI_RUN_NAME}-copy"))
    live = _run_named(workspace, UI_RUN_NAME)
    page.get_by_role("tab", name="Runs").click()
    _wait_text(page, "#runs-table", re.escape(copy.name))
    page.locator("#runs-filter textarea, #runs-filter input").first.fill("copy")
    _wait_text(page, "#runs-count", r"\d+ shown")
    assert page.locator("#runs-table tbody tr").count() == 1, _text(page, "#runs-table")
    page.locator("#runs-filter textarea, #runs-filter input").first.fill("")
    _wait_text(page, "#runs-count", r"^(?!.*shown)")
    _pick(page, "#runs-sort", "oldest first")
    ids = sorted(p.name for p in runs.iterdir() if (p / "config.json").is_file())

    def listed_in_order() -> bool:
        text = _text(page, "#runs-table")
        return all(i in text for i in ids) and [text.index(i) for i in ids] == sorted(
            text.index(i) for i in ids
        )

    deadline = time.monotonic() + 30
    while not listed_in_order():
        assert time.monotonic() < deadline, _text(page, "#runs-table")
        page.wait_for_timeout(250)
    # Rename: the name changes, the id (the folder other runs and exports refer to) stays.
    page.get_by_text("Manage a run").click()
    _pick(page, "#runs-manage", copy.name)
    page.locator("#runs-new-name textarea, #runs-new-name input").first.fill("spam copy")
    page.locator("#runs-rename").click()
    _wait_text(page, "#runs-message", r"is now named")
    assert json.loads((copy / "config.json").read_text())["name"] == "spam copy"
    _wait_text(page, "#runs-table", r"spam copy")
    # More epochs of a model fitted in closed form change nothing: said, not done.
    page.locator("#runs-extend").click()
    _wait_text(page, "#runs-message", r"fitted once in closed form")
    # Delete asks first; Cancel keeps the run, Yes removes it.
    page.locator("#runs-delete").click()
    _wait_text(page, "#runs-confirm-text", re.escape(copy.name) + r".*cannot be undone")
    page.locator("#runs-cancel").click()
    sync_api.expect(page.locator("#runs-confirm-delete")).to_be_hidden(timeout=10_000)
    assert copy.exists()
    page.locator("#runs-delete").click()
    page.locator("#runs-confirm-delete").click()
    _wait_text(page, "#runs-message", r"Deleted")
    assert not copy.exists()
    deadline = time.monotonic() + 30
    while copy.name in _text(page, "#runs-table"):
        assert time.monotonic() < deadline, "the deleted run is still listed"
        page.wait_for_timeout(250)
    # A completed run trains one more epoch from its checkpoint, as one more epoch on its curves.
    epochs = json.loads((live / "config.json").read_text())["train"]["epochs"]
    _pick(page, "#runs-manage", live.name)
    page.locator("#runs-extend").click()
    _wait_text(page, "#runs-message", rf"1 more epoch\(s\), to {epochs + 1} in all")
    deadline, status = time.monotonic() + 180, {}
    while (status := json.loads((live / "status.json").read_text())).get("state") != "completed":
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    records = [json.loads(line) for line in (live / "metrics.jsonl").read_text().splitlines()]
    done = [r["epoch"] for r in records if r.get("kind") == "epoch"]
    assert done == list(range(1, epochs + 2)), done
