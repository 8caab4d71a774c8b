"""The inbox page in a real browser: Playwright driving Debian's chromium (never a downloaded one).

The app runs in a real uvicorn server on loopback with a fresh SQLite inbox and the scripted
backend of api_support (ranks known in advance: `hacked` P1, `late` P2, a question P3, `thanks`
P4). Checks: the page loads, cards are ordered by priority, the P1 badge is red, an overdue
countdown is red, keyboard navigation, explanation and reveal on demand, a corrected intent
reaches the export, handled items leave the queue, new tweets appear without reloading. A
screenshot is saved to test-artifacts/inbox.png.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from api_support import app_with, settings_for, stub_loaded

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SECRET = "jo.secret@example.com"
RED = "rgb(217, 48, 37)"  # #d93025, the P1 colour of the shipped policy


def _stamp(minutes_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


TWEETS = [
    {"id": "p4", "text": "@brand thanks, sorted now!", "created_at": _stamp(1)},
    {"id": "p3", "text": "@brand how do I change my plan?", "created_at": _stamp(2)},
    {"id": "p1", "text": f"@brand my account was hacked!! write to {SECRET}", "created_at": _stamp(40)},
    {"id": "p2", "text": "@brand my parcel is late again", "created_at": _stamp(5)},
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file() and not shutil.which(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    app = app_with(stub_loaded(), settings_for(state_dir=tmp_path_factory.mktemp("state")))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the test server did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    assert httpx.post(url + "/v1/inbox", json={"tweets": TWEETS}).status_code == 201
    yield url
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


def test_the_agent_sees_the_queue_and_corrects_it(browser, server):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.goto(server + "/inbox")
    page.wait_for_selector(".card")

    # Ordered by priority; the P1 badge is red; overdue countdown is red, the others count down.
    assert page.locator(".card").evaluate_all("cards => cards.map(c => c.dataset.rank)") == ["P1", "P2", "P3", "P4"]
    p1 = page.locator('.card[data-id="p1"]')
    assert p1.locator(".badge").evaluate("b => getComputedStyle(b).backgroundColor") == RED
    assert p1.locator(".badge").inner_text().startswith("P1")
    assert p1.locator(".reasons").inner_text()  # why it is P1
    countdown = p1.locator(".countdown")
    expect(countdown).to_contain_text("overdue")
    assert "overdue" in countdown.inner_text() and "breached" in countdown.get_attribute("class")
    assert countdown.evaluate("c => getComputedStyle(c).color") == RED
    assert "respond in" in page.locator('.card[data-id="p4"] .countdown').inner_text()
    # Personal data masked until revealed; chips for intent, sentiment and DM with its reason.
    assert SECRET not in p1.locator(".text").inner_text()
    assert p1.locator(".chip.intent").all_inner_texts() == ["complaint"]
    assert "move to DM" in p1.locator(".chip.dm").inner_text()
    page.screenshot(path=str(_artifact("inbox.png")), full_page=True)

    # Keyboard: j moves down, k up; r reveals on the selected card, e explains.
    assert "selected" in p1.get_attribute("class")
    page.keyboard.press("j")
    assert "selected" in page.locator('.card[data-id="p2"]').get_attribute("class")
    page.keyboard.press("k")
    page.keyboard.press("r")
    expect(p1.locator(".text")).to_contain_text(SECRET)
    page.keyboard.press("e")
    page.wait_for_selector('.card[data-id="p1"] .explanation')

    # Correcting the intent sends feedback; the export then contains it.
    page.locator('.card[data-id="p1"] select.fix-intent').select_option(label="question")
    page.wait_for_selector('.card[data-id="p1"] .chip.intent.corrected')
    export = [json.loads(line) for line in httpx.get(server + "/v1/feedback/export").text.splitlines()]
    assert [(r["id"], r["question"], r["complaint"], r["corrected"]) for r in export] == [("p1", 1, 0, ["intent"])]

    # New tweets appear without a reload.
    httpx.post(server + "/v1/inbox", json={"tweets": [{"id": "fresh", "text": "@brand my flight is late, hacked account too"}]})
    page.wait_for_selector('.card[data-id="fresh"]', timeout=15_000)

    # Handled leaves the queue (the selected card: h).
    page.locator('.card[data-id="p4"]').click()
    page.keyboard.press("h")
    page.wait_for_selector('.card[data-id="p4"]', state="detached")
    assert httpx.get(server + "/v1/inbox/p4").json()["status"] == "handled"

    # Filters: only P1.
    page.keyboard.press("1")
    expect(page.locator('.card:not([data-rank="P1"])')).to_have_count(0)
    assert page.locator('.card[data-rank="P1"]').count() >= 1
    page.screenshot(path=str(_artifact("inbox-p1-filter.png")), full_page=True)
    assert not console_errors, console_errors
    page.close()


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
