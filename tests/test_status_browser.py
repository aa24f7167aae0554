"""/status in a real browser (system Chromium via Playwright): sign-in, nothing loaded from
another host, no console errors, and charts that hold the points that were recorded.

The history is a compressed six-hour replay through the real controller, mode store and
history (support/status_scenario.py). With SIDECAR_UPDATE_SCREENSHOT=1 the screenshot is
also written to docs/img/status.png (the README's picture).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from support.browser import browser_page, chromium_path, served
from support.status_scenario import MINUTES, replay

from sidecar.app import create_app
from sidecar.backend.connection import connect
from sidecar.harness.n8n_standin import FakeN8n
from sidecar.settings import load_settings

REQUIRED = os.environ.get("SIDECAR_REQUIRE_BROWSER") == "1"  # set by .ci/run
pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(
        chromium_path() is None and not REQUIRED,
        reason="chromium is not installed (apt-get install chromium)",
    ),
]

TOKENS = "viewer:v-token,operator:o-token,admin:a-token"
README_SHOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "status.png"


@pytest.fixture
def settings(n8n: FakeN8n, redis_url: str):
    return load_settings(
        _env_file=None, N8N_URL=n8n.url, REDIS_URL=redis_url, SIDECAR_ADMIN_TOKENS=TOKENS
    )


@pytest.fixture
def scenario(settings):
    return replay(connect(settings), settings, time.time())


def sign_in(page, base: str, token: str) -> None:
    page.goto(base + "/status")
    page.fill("input[name=token]", token)
    with page.expect_navigation():  # the POST, then (signed in) the 303 to /status
        page.click("#sign-in button[type=submit]")


def drawn_values(page, chart: str) -> tuple[list[float], list[float]]:
    """The (times, values) a chart's polyline encodes, read back through its scale."""
    svg = page.locator(f'svg[data-chart="{chart}"]')
    x0, x1 = float(svg.get_attribute("data-x-start")), float(svg.get_attribute("data-x-end"))
    y_max = float(svg.get_attribute("data-y-max"))
    left, top, width, height = map(float, svg.get_attribute("data-plot").split())
    points = svg.locator("polyline.series").get_attribute("points").split()
    pairs = [tuple(map(float, p.split(","))) for p in points]
    times = [x0 + (x - left) / width * (x1 - x0) for x, _ in pairs]
    values = [(1 - (y - top) / height) * y_max for _, y in pairs]
    return times, values


def test_sign_in_is_required_and_a_bad_token_is_refused(settings, scenario) -> None:
    with served(create_app(settings)) as base, browser_page() as (page, recorder):
        response = page.goto(base + "/status")
        assert response.status == 200
        assert page.locator("#sign-in").is_visible()
        assert page.locator("#mode-now").count() == 0
        sign_in(page, base, "not-a-token")
        assert page.locator("#sign-in-error").is_visible()
        assert page.locator("#mode-now").count() == 0
        page.goto(base + "/status")
        assert page.locator("#sign-in").is_visible()  # the refused token was not kept

        cookie = next(c for c in page.context.cookies() if c["name"] == "sidecar_status")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert all("status of 401" in error for error in recorder.console_errors)
        assert recorder.foreign(base) == []


def test_the_page_shows_the_recorded_history_and_loads_nothing_foreign(
    settings, scenario, tmp_path: Path
) -> None:
    with served(create_app(settings)) as base, browser_page() as (page, recorder):
        sign_in(page, base, "v-token")
        page.wait_for_selector("#mode-now")
        assert page.inner_text("#role") == "viewer"
        assert page.inner_text("#mode-now") == "single"
        assert "drained" in page.inner_text("#mode-reason")

        page.goto(base + "/status?range=24h")  # the whole replay, whenever the test runs
        times, values = drawn_values(page, "webhooks_per_hour")
        expected = scenario.points["webhooks_per_hour"]
        assert len(values) == MINUTES == len(expected)
        y_max = float(page.get_attribute('svg[data-chart="webhooks_per_hour"]', "data-y-max"))
        for (at, wanted), got_at, got in zip(expected, times, values, strict=True):
            assert got == pytest.approx(wanted, abs=y_max / 100)
            assert got_at == pytest.approx(at, abs=86400 / 600)  # within a pixel: 24 h, ~660 px
        threshold = page.locator('svg[data-chart="webhooks_per_hour"] line.threshold')
        assert float(threshold.get_attribute("data-value")) == 500
        assert page.locator('svg[data-chart="webhooks_per_hour"] rect.band.sustain').count() >= 1
        assert page.locator('svg[data-chart="webhooks_per_hour"] rect.band.cooldown').count() >= 1
        assert page.locator('svg[data-timeline="24h"] rect[data-mode="queue"]').count() == 1
        assert page.locator('svg[data-chart="flrts:webhooks:inbound:depth"]').count() == 1
        assert page.inner_text("#dlq-total") == "4"
        assert page.inner_text("#workers") == "2"
        assert page.locator("button[data-action=pause]").count() == 0  # a viewer
        assert "closed" in page.inner_text("#n8n-protection")  # no outage was recorded

        page.goto(base + "/status")  # the default window: the last 6 h
        shot = tmp_path / "status.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("SIDECAR_UPDATE_SCREENSHOT") == "1":
            README_SHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, README_SHOT)
        assert recorder.console_errors == []
        assert recorder.foreign(base) == []
        assert len(recorder.requests) >= 4  # the form, the sign-in POST, the pages


def test_an_operator_pauses_a_queue_with_the_button(settings, scenario) -> None:
    with served(create_app(settings)) as base, browser_page() as (page, recorder):
        sign_in(page, base, "o-token")
        row = page.locator('tr[data-queue="flrts:webhooks:inbound"]')
        with page.expect_navigation():
            row.locator("button[data-action=pause]").click()
        page.wait_for_selector("#notice")
        assert "paused" in page.inner_text("#notice")
        assert row.locator("button[data-action=resume]").count() == 1
        assert page.locator("button[data-action^=mode-]").count() == 0  # not an admin
        assert recorder.console_errors == []
        assert recorder.foreign(base) == []


def test_dark_mode_renders_without_errors(settings, scenario) -> None:
    with served(create_app(settings)) as base, browser_page(dark=True) as (page, recorder):
        sign_in(page, base, "a-token")
        page.wait_for_selector("#mode-now")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"
        assert page.locator("button[data-action=mode-queue]").count() == 1
        assert recorder.console_errors == []
