"""The Dagster UI in a real browser: what a person sees after data has been ingested.

Starts `dagster dev` on a fresh ``MARQUEE_HOME`` (tests/dagster_dev_helpers.py), ingests a small
synthetic data set through ``ingest_job``, then drives Debian's headless Chromium over the
DevTools protocol (tests/browser.py): the asset graph lists the ingestion assets, and
``raw_events``'s page shows its latest materialization, row count and passing checks.
Screenshots go to ``$MARQUEE_HOME/reports/ui-*.png``.

``make test`` installs Chromium (apt-get) when it is missing. Without it the test skips with the
reason, except where the browser is required (``MARQUEE_REQUIRE_BROWSER``, set by ``make test``
when it runs as root with apt-get, as in CI; or ``CI``): there a missing browser is a failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Chromium, find_chromium
from dagster_dev_helpers import (
    LOCATION,
    TRIGGER_TAG,
    Dagster,
    count,
    launch_job,
    repository_name,
    start_dagster_dev,
    stop_sensor,
    wait_for_run,
)

from marquee.config import MarqueeHome
from marquee.synthetic import GenerationConfig, generate

pytestmark = pytest.mark.slow

DIALOG = "Join the Dagster community"
INGESTION_ASSETS = ("raw_events", "raw_titles", "raw_users", "raw_ingestion_log")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        reason = (
            "headless Chromium not found: install Debian's `chromium` (make test does, via apt-get)"
        )
        if os.environ.get("MARQUEE_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def ingested_ui(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Dagster, MarqueeHome, Path]]:
    tmp = tmp_path_factory.mktemp("ui_browser")
    with start_dagster_dev(tmp) as (server, home):
        # Only the launched run writes: the landing sensor would start a second one for the files.
        stop_sensor(server)
        generate(home, GenerationConfig(users=60, titles=40, days=3), progress=False)
        run_id = launch_job(server, "ingest_job", {TRIGGER_TAG: "test_ui_browser"})
        assert wait_for_run(server, run_id, timeout=180) == "SUCCESS", server.tail()
        yield server, home, tmp


@pytest.fixture
def browser(chromium: str, ingested_ui: tuple[Dagster, MarqueeHome, Path]) -> Iterator[Chromium]:
    with Chromium(chromium, ingested_ui[2] / "chromium.log") as page:
        yield page


def _open(browser: Chromium, url: str, *expected: str, timeout: float = 60) -> str:
    """Open ``url`` and wait for ``expected`` text, dismissing the first-visit community dialog
    (it can pop up a moment after the page has rendered) until it is gone."""
    browser.goto(url)
    deadline = time.monotonic() + timeout
    while True:
        text = browser.text()
        if DIALOG in text:
            browser.click_button("Skip")
        elif all(e in text for e in expected):
            # A last look: the dialog has not just opened over the page.
            time.sleep(1)
            if DIALOG not in browser.text():
                return browser.text()
        if time.monotonic() > deadline:
            return browser.wait_for_text(*expected, DIALOG + " dismissed", timeout=0)
        time.sleep(0.5)


def test_asset_graph_shows_the_ingestion_assets(
    browser: Chromium, ingested_ui: tuple[Dagster, MarqueeHome, Path]
) -> None:
    server, home, _ = ingested_ui
    group = f"{server.url}/locations/{repository_name(server)}@{LOCATION}/asset-groups/ingestion"
    text = _open(browser, group, *INGESTION_ASSETS, "ingestion")
    assert DIALOG not in text
    # Each node card: the latest materialization and its checks' status.
    assert text.count("Materialized") >= len(INGESTION_ASSETS), text
    assert "Passed" in text and "Failed" not in text, text
    shot = browser.screenshot(home.reports / "ui-asset-graph.png")
    assert shot.stat().st_size > 10_000


def test_asset_page_shows_latest_materialization_and_checks(
    browser: Chromium, ingested_ui: tuple[Dagster, MarqueeHome, Path]
) -> None:
    server, home, _ = ingested_ui
    rows = count(home, "SELECT count(*) FROM raw.events")
    overview = _open(
        browser,
        f"{server.url}/assets/raw_events",
        "Latest materialization",
        "Row count",
        "Latest check results",
        "Description",
    )
    # What a person reads: the asset, its group, owner, kinds, the row count, the new files.
    for expected in (
        "raw_events",
        "ingestion",
        "data-platform",
        "DuckDB",
        f"{rows:,}",
        "rows_accepted",
    ):
        assert expected in overview, expected
    assert "ago" in overview.split("Latest materialization", 1)[1][:80]
    browser.screenshot(home.reports / "ui-raw-events.png")

    checks = _open(
        browser,
        f"{server.url}/assets/raw_events?view=checks",
        "freshness_check",
        "Evaluation result",
    )
    listed = checks.split("freshness_check", 1)[1][:400]
    assert "Succeeded" in listed, listed
    assert "Failed" not in checks.split("Execute all", 1)[1].split("Execution history", 1)[0]
    assert "Asset is currently fresh" in checks
    assert "Passed" in checks
    shot = browser.screenshot(home.reports / "ui-raw-events-checks.png")
    assert shot.stat().st_size > 10_000
