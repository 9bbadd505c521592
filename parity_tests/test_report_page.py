"""The report page in a real browser: headless Chromium (Debian's package, driven by playwright;
nothing downloads a browser) opens the quick report's ``index.html`` from disk and checks what a
reader sees -- the summary table, every figure loaded with a non-zero size, the side-by-side
reader and its family selector, the detailed rows rendered on demand -- with no console error and
no request that leaves the disk, at a laptop width and a phone width.

Chromium is required: without ``/usr/bin/chromium`` the tests fail and say how to install it
(``.ci/run`` installs it), unless ``SUITE_BROWSER_TESTS=0`` is set, which skips them.

The report is generated once per session, in quick mode for two families (mlp, lstm: every kind
of figure, a recurrent and a feed-forward reader) to keep the suite fast.
"""

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from reports import bench, cli, harness, training

CHROMIUM = os.environ.get("SUITE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def require_browser():
    if os.environ.get("SUITE_BROWSER_TESTS") == "0":
        pytest.skip("browser tests switched off (SUITE_BROWSER_TESTS=0)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.fail(f"headless Chromium is needed at {CHROMIUM}: install Debian's package with "
                    "`apt-get update && apt-get install -y chromium chromium-driver` (.ci/run does), "
                    "or set SUITE_BROWSER_TESTS=0 to skip the browser tests")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    require_browser()
    out = tmp_path_factory.mktemp("report")
    # The benchmark, as the report would run it (python -m reports bench) but in this process and with one
    # round at a small batch: what is checked here is how the page shows it, not its numbers; a process of
    # its own would cost 5 s of imports. The report includes it with --bench-from.
    measured = tmp_path_factory.mktemp("bench")
    assert bench.main(["--quick", "--rounds", "1", "--warmup", "0", "--limit-n", "16", "--no-progress",
                       "--release-freed-memory", "--families", "mlp,lstm", "--frameworks", "numpy,torch,keras-tf",
                       "--out", str(measured)]) == 0
    status = cli.main(["--out", str(out), "--quick", "--families", "mlp", "lstm", "--bench-from", str(measured)])
    assert status == 0
    return out / "index.html"


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, report, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(
        f"network request: {r.url}"))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    return page, problems


@pytest.mark.parametrize("width", [1366, 414])
def test_page_renders_summary_figures_and_reader(browser, report, width):
    page, problems = open_page(browser, report, width)
    summaries = page.locator("table.matrix")                           # one per dtype
    assert summaries.count() == 2
    for i in range(2):
        assert summaries.nth(i).is_visible()
        assert summaries.nth(i).locator("th.rowhead").all_inner_texts() == ["mlp", "lstm"]
    passed = page.locator("td.cellbtn.good, td.cellbtn.near").count()
    assert passed == 2 * len(harness.PAIRS) * 2                          # families x pairs x dtypes, none failed

    images = page.locator("img")
    assert images.count() == 4
    for i in range(images.count()):
        img = images.nth(i)
        img.scroll_into_view_if_needed()
        assert img.is_visible()
        assert img.evaluate("i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0"), img.get_attribute("src")

    reader = page.locator("#reader-mlp table.sbs").first
    reader.scroll_into_view_if_needed()
    assert reader.is_visible()
    assert not page.locator("#reader-lstm").is_visible()
    page.click("button.topic-btn[data-topic=lstm]")
    assert page.locator("#reader-lstm").is_visible() and not page.locator("#reader-mlp").is_visible()
    step_row = page.locator("#reader-lstm tr[data-key='def:step']").first
    assert step_row.locator("pre.code").count() == 3                  # step | forward | call, no filler
    assert "def forward" in step_row.inner_text() and "def call" in step_row.inner_text()

    # the benchmark the report includes (python -m reports bench, bench.csv beside the page): training step and
    # forward pass, a row per family, a ratio per framework
    table = pd.read_csv(report.parent / "bench.csv")
    assert set(table.family) == {"mlp", "lstm"} and set(table.framework) == {"numpy", "torch", "keras-tf",
                                                                              "torch-plain"}
    tables = page.locator("#speed h4 + div table")
    assert tables.count() == 2
    for i in range(2):
        tables.nth(i).scroll_into_view_if_needed()
        assert tables.nth(i).is_visible()
        assert tables.nth(i).locator("thead th").all_inner_texts() == ["model", "numpy", "torch", "keras-tf"]
        rows = tables.nth(i).locator("tbody tr").all_inner_texts()
        assert [r.split("\t")[0] for r in rows] == ["mlp", "lstm"] and all(r.endswith("x") for r in rows)

    # no part of the page is wider than the window (tables scroll inside their own boxes)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert problems == []
    page.close()


def test_the_report_learns_the_tasks_of_its_families_only(report):
    learned = pd.read_csv(report.parent / "training.csv")
    assert set(learned.family) == {"mlp", "lstm"}
    assert set(learned.task) == {"iris", "digits_mlp", "binary_addition_lstm", "noisy_sine_lstm"}
    assert set(learned.framework) == set(training.LEARN_FRAMEWORKS)


def test_detailed_rows_render_on_demand_and_filter(browser, report):
    page, problems = open_page(browser, report, 1366)
    rows = page.locator("#rows-table tbody tr")
    assert rows.count() == 0                                        # nothing rendered before it is opened
    pair = "-".join(harness.PAIRS[-1])
    page.click(f"td.cellbtn[data-family=lstm][data-dtype=float32][data-pair='{pair}']")
    assert page.locator("#rows-table").is_visible()
    assert 0 < rows.count() <= 200
    texts = rows.all_inner_texts()
    assert all("lstm" in t and f"\t{pair}\t" in t and "float32" in t for t in texts)
    page.fill("#f-quantity", "grad:Wh")
    assert 0 < rows.count() < len(texts)
    assert all("grad:Wh" in t for t in rows.all_inner_texts())
    assert problems == []
    page.close()
