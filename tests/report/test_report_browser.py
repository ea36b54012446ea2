"""The report in a real browser: headless Chromium (Debian package) driven by Playwright's bundled driver.

Each page is opened from a file; every request and console message is recorded. Screenshots go to
tests/artifacts/ (git-ignored). Set PRECISIONPAIN_UPDATE_DOCS_SCREENSHOT=1 to also refresh
docs/report-screenshot.png from the CYP2D6 poor-metabolizer example.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from precisionpain.explain.report import Report, render_html

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO / "docs" / "report-screenshot.png"
DOCS_SCREENSHOT_ROWS = 6  # ranked options shown in the docs screenshot (the page lists them all)
SECTION_HEADINGS = (
    "Safety alerts",
    "Patient summary",
    "Ranked treatment options",
    "Excluded options",
    "Pharmacogenomics",
    "Why: what drives each estimate",
    "Data quality",
    "About the model and its limitations",
    "References",
)
EXAMPLES = (
    "cyp2d6_poor_metabolizer",
    "cyp2d6_ultrarapid_diabetic_neuropathy",
    "hla_b_1502_carrier",
    "mostly_missing",
    "phenotype_only_report",
    "phq9_item9_positive",
)


@dataclass
class Opened:
    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def opened(browser: Any, html: str, path: Path, *, width: int = 1200, height: int = 900) -> Iterator[Opened]:
    path.write_text(html, encoding="utf-8")
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    state = Opened(page=page, url=path.resolve().as_uri())
    page.on("request", lambda r: state.requests.append(r.url))
    page.on("console", lambda m: state.console.append((m.type, m.text)))
    page.on("pageerror", lambda e: state.errors.append(str(e)))
    context.route("http*://**/*", lambda route: route.abort())  # nothing may leave the machine
    try:
        page.goto(state.url, wait_until="load")
        yield state
    finally:
        context.close()


@pytest.mark.parametrize("name", EXAMPLES)
def test_report_renders_without_errors_or_requests(
    name: str, browser: Any, report_for: Callable[[str], Report], tmp_path: Path, artifacts_dir: Path
) -> None:
    report = report_for(name)
    with opened(browser, render_html(report), tmp_path / f"{name}.html") as o:
        page = o.page
        for heading in SECTION_HEADINGS:
            assert page.get_by_role("heading", name=heading, level=2, exact=True).is_visible(), heading
        charts = page.get_by_role("img", name="Why the model estimates")
        assert charts.count() == sum(1 for w in report.explanations if w.chart)
        for entry in (*report.options, *report.excluded):  # every option's name links to its explanation
            assert page.locator(f"#why-{entry.option_id}").is_visible(), entry.option_id
        assert page.get_by_role("table", name="Genotype summary").is_visible()
        if report.options:
            assert page.get_by_role("table", name="Options that can be used").is_visible()
        # the whole page for one example (slow to capture), the first screen for the others
        full = name == "cyp2d6_poor_metabolizer"
        page.screenshot(
            path=str(artifacts_dir / f"report-{name}.jpg"), full_page=full, type="jpeg", quality=75
        )
        assert o.errors == []
        assert [m for m in o.console if m[0] in ("error", "warning")] == []
        assert o.requests == [o.url]


def test_critical_alert_is_prominent(
    browser: Any, report_for: Callable[[str], Report], tmp_path: Path, artifacts_dir: Path
) -> None:
    with opened(browser, render_html(report_for("phq9_item9_positive")), tmp_path / "phq9.html") as o:
        alert = o.page.get_by_role("alert")
        assert alert.count() == 1
        assert alert.is_visible()
        assert "suicide risk" in alert.inner_text()
        box = alert.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900  # visible without scrolling
        style = alert.evaluate(
            "e => { const s = getComputedStyle(e); const m = getComputedStyle(e.querySelector('.alert-message'));"
            " return {bg: s.backgroundColor, weight: m.fontWeight, size: parseFloat(m.fontSize)}; }"
        )
        r, g, b = (int(v) for v in style["bg"].removeprefix("rgb(").rstrip(")").split(",")[:3])
        assert r > g + 10 and r > b + 10  # a red alert
        assert int(style["weight"]) >= 700 and style["size"] >= 16
        alert.screenshot(path=str(artifacts_dir / "report-critical-alert.png"))


CONTRAST_JS = """
() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(x => parseFloat(x)); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const background = el => { for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
  const failures = [];
  let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    if (seen.has(el) || el.closest('title, desc, .visually-hidden, .skip, details:not([open]) > :not(summary)')) continue;
    seen.add(el);
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || s.display === 'none' || el.getClientRects().length === 0) continue;
    const inSvg = el instanceof SVGElement;
    const fg = parse(inSvg ? s.fill : s.color);
    if (!fg) continue;
    const bg = background(inSvg ? el.closest('svg') : el);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    const need = large ? 3 : 4.5;
    const r = ratio(fg, bg);
    checked++;
    if (r < need) failures.push(`${node.textContent.trim().slice(0, 40)}: ${r.toFixed(2)} < ${need}`);
  }
  return {checked, failures};
}
"""


@pytest.mark.parametrize("name", ["cyp2d6_poor_metabolizer", "phq9_item9_positive", "mostly_missing"])
def test_text_has_sufficient_contrast(
    name: str, browser: Any, report_for: Callable[[str], Report], tmp_path: Path
) -> None:
    with opened(browser, render_html(report_for(name)), tmp_path / "contrast.html") as o:
        result = o.page.evaluate(CONTRAST_JS)
    assert result["checked"] > 200
    assert result["failures"] == []


def test_print_layout(
    browser: Any, report_for: Callable[[str], Report], tmp_path: Path, artifacts_dir: Path
) -> None:
    report = report_for("cyp2d6_poor_metabolizer")
    with opened(browser, render_html(report), tmp_path / "print.html") as o:
        page = o.page
        page.emulate_media(media="print")
        assert not page.get_by_role("navigation", name="Report sections").is_visible()
        assert page.get_by_role("img", name="Why the model estimates").first.is_visible()
        pdf = page.pdf(format="A4", print_background=True)
        assert o.requests == [o.url]
    (artifacts_dir / "report-print.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) > 3  # several A4 pages


def _stitched_screenshot(page: Any) -> bytes:
    """Header to the top-ranked options, the excluded options, the gene-drug bins, the first explanation and the
    rows summarising the other ranked options."""
    from PIL import Image

    def page_y(selector: str, edge: str) -> int:
        return int(
            page.evaluate(
                f"() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();"
                f" return r.{edge} + window.scrollY; }}"
            )
        )

    def clip(y0: int, y1: int) -> Any:
        png = page.screenshot(full_page=True, clip={"x": 0, "y": y0, "width": 1200, "height": y1 - y0})
        return Image.open(io.BytesIO(png))

    parts = [
        clip(0, page_y(f"#options tbody tr:nth-child({DOCS_SCREENSHOT_ROWS})", "bottom") + 8),
        clip(page_y("#excluded", "top") - 8, page_y("#excluded", "bottom") + 8),
        clip(page_y("#pgx", "top") - 8, page_y("#pgx ul.bins", "bottom") + 12),
        Image.open(io.BytesIO(page.locator("article.why").first.screenshot())),
        clip(page_y("#why table.why-rows", "top") - 30, page_y("#why table.why-rows", "bottom") + 8),
    ]
    gap = 20
    width = max(p.width for p in parts)
    out = Image.new("RGB", (width, sum(p.height for p in parts) + gap * (len(parts) - 1)), "white")
    y = 0
    for p in parts:
        out.paste(p, ((width - p.width) // 2, y))
        y += p.height + gap
    buf = io.BytesIO()
    out.quantize(colors=256, dither=Image.Dither.NONE).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def test_screenshot_for_the_docs(
    browser: Any, report_for: Callable[[str], Report], tmp_path: Path, artifacts_dir: Path
) -> None:
    with opened(browser, render_html(report_for("cyp2d6_poor_metabolizer")), tmp_path / "docs.html") as o:
        png = _stitched_screenshot(o.page)
    assert png.startswith(b"\x89PNG")
    (artifacts_dir / "report-screenshot.png").write_bytes(png)
    if os.environ.get("PRECISIONPAIN_UPDATE_DOCS_SCREENSHOT"):
        DOCS_SCREENSHOT.write_bytes(png)
