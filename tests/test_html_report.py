"""report.html: one self-contained page a researcher browses from a file, checked in a real Chromium.

Chromium is required, never skipped: the README's test command installs it (tests/install-browser.sh).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.browser import chromium, console_errors
from support.sweeps import make_every_table_sweep

from resnext_bench.analysis.html import markdown_to_html, write_html
from resnext_bench.errors import UserError


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """`resnext-bench report SWEEP --out DIR --html` on runs that feed every table."""
    root = tmp_path_factory.mktemp("html")
    sweep = make_every_table_sweep(root / "sweep")
    out = root / "results"
    done = subprocess.run([sys.executable, "-m", "resnext_bench.cli", "report", str(sweep), "--out", str(out),
                           "--html"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert str(out / "report.html") in done.stdout
    return out


def markdown_images(text: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)


def markdown_tables(text: str) -> int:
    return len(re.findall(r"^\|[-:| ]+\|$", text, flags=re.M))


def test_report_html_embeds_every_figure_and_fetches_nothing(report_dir):
    md = (report_dir / "report.md").read_text()
    page = (report_dir / "report.html").read_text()
    images = markdown_images(md)
    assert images, "the report has figures to embed"
    assert page.count('src="data:image/png;base64,') == len(images)
    # Nothing on the page points at a file or server for its content: every src is a data URI.
    assert re.findall(r'src="(?!data:)', page) == []
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert page.count('<table class="sortable">') == markdown_tables(md) > 0


def test_each_reading_stands_beside_its_table_and_provenance_folds(report_dir):
    page = (report_dir / "report.html").read_text()
    md = (report_dir / "report.md").read_text()
    assert page.count('<aside class="reading">') == md.count("**Reading.**") > 0
    # A table and its reading share one row of the grid.
    pair = page.split('<div class="pair">')[1].split("</aside>")[0]
    assert '<table class="sortable">' in pair and "Reading." in pair
    for title in ("Environment", "How the readings are computed"):
        assert re.search(rf"<details><summary><h2>{title}", page), title


def test_user_text_in_the_report_is_shown_never_run():
    page = markdown_to_html("# r\n\n## sweep `<b>`\n\n- name <script>alert(1)</script>\n"
                            "- <img src=x onerror=alert(2)>\n", Path("."))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_image_outside_the_report_folder_is_not_embedded(tmp_path):
    folder = tmp_path / "report"
    folder.mkdir()
    (tmp_path / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n not for the page")
    page = markdown_to_html("# r\n\n![leak](../secret.png)\n", folder)
    assert "base64" not in page
    assert "[figure not embedded: ../secret.png]" in page


def test_an_unreadable_report_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="cannot read .*report.md"):
        write_html(tmp_path / "report.md")
    (tmp_path / "report.md").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UserError, match="cannot read"):
        write_html(tmp_path / "report.md")
    assert not (tmp_path / "report.html").exists()


def test_the_browser_reports_console_errors(tmp_path):
    """The check below can fail: a page with a script error and a blocked fetch shows both in the console."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                   "script-src 'unsafe-inline'\"><img src=\"https://example.invalid/x.png\">"
                   "<script>undefinedFunction();</script>")
    with chromium() as browser:
        browser.get(bad.as_uri())
        errors = console_errors(browser)
    assert any("undefinedFunction" in e["message"] for e in errors), errors
    assert any("Content Security Policy" in e["message"] for e in errors), errors


def column_values(browser, table_index: int, column: int) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('table.sortable')[arguments[0]].tBodies[0].rows)"
        ".map(r => r.cells[arguments[1]].textContent.trim())", table_index, column)


def test_report_html_in_chromium_loads_clean_shows_figures_and_sorts(report_dir, tmp_path):
    from selenium.webdriver.common.by import By

    md = (report_dir / "report.md").read_text()
    with chromium() as browser:
        browser.get((report_dir / "report.html").as_uri())
        assert browser.title == "resnext-bench report"
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(images) == len(markdown_images(md))
        assert all(done and w > 0 and h > 0 for done, w, h in images), images
        # Table 2's params column: numbers with unit suffixes, sorted as numbers both ways.
        heads = browser.find_elements(By.CSS_SELECTOR, "table.sortable")[0].find_elements(
            By.CSS_SELECTOR, "thead tr:last-child th")
        column = [h.text for h in heads].index("params")
        before = column_values(browser, 0, column)
        heads[column].click()
        ascending = column_values(browser, 0, column)
        heads[column].click()
        descending = column_values(browser, 0, column)
        number = {"k": 1e3, "M": 1e6, "G": 1e9}

        def value(cell: str) -> float:
            return float(cell[:-1]) * number[cell[-1]]

        assert sorted(before) == sorted(ascending) == sorted(descending)  # the same rows, reordered
        assert [value(c) for c in ascending] == sorted(value(c) for c in ascending)
        assert [value(c) for c in descending] == sorted((value(c) for c in descending), reverse=True)
        assert heads[column].get_attribute("aria-sort") == "descending"
        assert console_errors(browser) == []
        shot = tmp_path / "report.png"
        assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
