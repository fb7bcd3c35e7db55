"""The digest page in a real headless browser (Debian's chromium, driven by Playwright).

It renders (the expected cards are in the DOM), a screenshot is taken, the business / role
filters recompute what they should, untrusted text stays inert text, and the page makes no network
request. `make test` installs chromium when it is missing; without it these tests skip.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, Request, sync_playwright

from riskradar.digest import Digest, build_digest, render_html
from tests.digest_samples import HOSTILE_EXAMPLE, sample_inputs

CHROMIUM = Path("/usr/bin/chromium")
# Offline and quiet: no component updates, sync, QUIC or first-run pings of the browser itself.
LAUNCH_ARGS = [
    "--no-sandbox",  # root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Records policy violations before any page script runs: an empty list means the page's own
# style and script were allowed and nothing else was even attempted.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and shutil.which("chromium") is None,
    reason="Debian chromium is not installed (`make test` installs it: apt-get install chromium)",
)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def context(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    executable = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or CHROMIUM)
    browser_context = playwright.chromium.launch_persistent_context(
        user_data_dir=tmp_path / "profile",  # fresh per test
        executable_path=executable,
        headless=True,
        args=LAUNCH_ARGS,
        viewport={"width": 1280, "height": 900},
    )
    yield browser_context
    browser_context.close()


@dataclass
class OpenedPage:
    page: Page
    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        violations: list[str] = self.page.evaluate("window.__cspViolations")
        return violations

    def assert_quiet(self) -> None:
        """Nothing but the page itself was requested, nothing was blocked, no script error."""
        assert self.requests == [self.url]
        assert self.csp_violations() == []
        assert self.errors == []


def open_page(context: BrowserContext, digest: Digest, path: Path) -> OpenedPage:
    path.write_text(render_html(digest), encoding="utf-8")
    page = context.pages[0] if context.pages else context.new_page()
    opened = OpenedPage(page, path.as_uri())

    def on_request(request: Request) -> None:
        opened.requests.append(request.url)

    context.on("request", on_request)
    # Belt and braces: should the page try the network anyway, the request is recorded above and
    # refused here rather than leaving the machine.
    context.route(lambda url: not url.startswith("file:"), lambda route: route.abort())
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.on(
        "console", lambda message: opened.errors.append(message.text) if message.type == "error" else None
    )
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    page.goto(opened.url, wait_until="load")
    return opened


def sample_digest(extra_themes: int = 30) -> Digest:
    inputs = sample_inputs(extra_themes)
    return build_digest(
        inputs.snapshot,
        inputs.stats,
        curation=inputs.curation,
        interventions=inputs.interventions,
        generated_at=inputs.generated_at,
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def visible_theme_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "[data-theme]", "els => els.filter(el => !el.hidden).map(el => el.getAttribute('data-theme'))"
    )
    return ids


def card_count(page: Page, theme_id: str) -> int:
    text = page.locator(f'[data-theme="{theme_id}"] [data-count]').first.inner_text()
    return int(text.replace(",", ""))


def test_the_page_renders_every_theme_and_a_screenshot_is_taken(
    context: BrowserContext, tmp_path: Path
) -> None:
    digest = sample_digest()
    opened = open_page(context, digest, tmp_path / "digest.html")
    page = opened.page

    assert page.title().startswith("Theme digest")
    cards = page.locator("article.card[data-theme]")
    assert cards.count() == len(digest.themes)
    for card in digest.themes:
        element = page.locator(f'article[data-theme="{card.theme_id}"]')
        assert element.is_visible()
        assert element.locator("h3").inner_text() == card.label
    assert page.locator("tr[data-theme]").count() == len(digest.other_themes)
    emerging = page.locator("#emerging article.card")
    assert [emerging.nth(i).get_attribute("data-theme") for i in range(emerging.count())] == [
        card.theme_id for card in digest.themes if card.emerging is not None
    ]
    # The script ran: it reveals the filter bar, which a page without script keeps hidden.
    assert page.locator("[data-filters]").is_visible()
    # The server-rendered sparkline is a drawn path, and the effect of the intervention is shown.
    assert page.locator(
        f'article[data-theme="{digest.themes[0].theme_id}"] svg[data-spark] path.line'
    ).get_attribute("d")
    assert page.get_by_text("Reports in shop fell 41%").is_visible()

    screenshot = tmp_path / "digest.png"
    page.screenshot(path=str(screenshot), full_page=True)
    width, height = png_size(screenshot)
    assert width == 1280
    assert height > 3000  # a long page: header, emerging cards, ranked cards, table
    assert screenshot.stat().st_size > 100_000

    # Phone width: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone = tmp_path / "digest-phone.png"
    page.screenshot(path=str(phone))
    assert png_size(phone) == (390, 844)
    opened.assert_quiet()


def expected_count(cells: Any, business: str | None, role: str | None) -> int:
    return sum(
        sum(cell.counts)
        for cell in cells
        if (business is None or cell.business == business) and (role is None or cell.role == role)
    )


def test_filters_keep_only_the_themes_and_counts_of_the_selection(
    context: BrowserContext, tmp_path: Path
) -> None:
    digest = sample_digest()
    opened = open_page(context, digest, tmp_path / "digest.html")
    page = opened.page
    everything = [(t.theme_id, t.cells) for t in digest.themes] + [
        (t.theme_id, t.cells) for t in digest.other_themes
    ]

    for business, role in [("live", None), ("shop", "seller"), (None, "creator")]:
        page.select_option("#filter-business", business or "")
        page.select_option("#filter-role", role or "")
        expected = {theme_id: expected_count(cells, business, role) for theme_id, cells in everything}
        assert set(visible_theme_ids(page)) == {theme_id for theme_id, count in expected.items() if count}
        assert len(visible_theme_ids(page)) < len(everything)  # the selection really hides some
        for theme_id in visible_theme_ids(page):
            assert card_count(page, theme_id) == expected[theme_id]
        total = expected_count(digest.volume, business, role)
        assert page.locator("[data-total-reports]").inner_text() == f"{total:,}"
        # Money is kept per business, not per role: a role filter says so instead of implying it.
        note = page.locator("[data-filter-note]").first.inner_text()
        assert ("money is not split by reporter role" in note) == (role is not None)

    page.select_option("#filter-business", "")
    page.select_option("#filter-role", "")
    assert len(visible_theme_ids(page)) == len(everything)
    assert [card_count(page, card.theme_id) for card in digest.themes] == [
        card.reports for card in digest.themes
    ]
    opened.assert_quiet()


def test_report_text_with_script_payloads_is_shown_as_inert_text(
    context: BrowserContext, tmp_path: Path
) -> None:
    inputs = sample_inputs(extra_themes=2)
    hostile_name = "<img src=x onerror=\"window.__pwned='label'\">Gift cards"
    curation = dict(inputs.curation)
    theme_id = "thm-5e1f0a9c"  # its examples include HOSTILE_EXAMPLE
    curation[theme_id] = inputs.curation["thm-77c2d310"].model_copy(
        update={
            "theme_id": theme_id,
            "name": hostile_name,
            "verdict_note": "<script>window.__pwned='note'</script>",
        }
    )
    digest = build_digest(
        inputs.snapshot,
        inputs.stats,
        curation=curation,
        interventions=inputs.interventions,
        generated_at=inputs.generated_at,
    )
    opened = open_page(context, digest, tmp_path / "hostile.html")
    page = opened.page
    card = page.locator(f'article[data-theme="{theme_id}"]')

    # Shown verbatim, as text.
    assert HOSTILE_EXAMPLE in [text for text in card.locator("blockquote.example").all_inner_texts()]
    assert card.locator("h3").inner_text() == hostile_name
    assert "<script>window.__pwned='note'</script>" in card.locator(".verdict-note").inner_text()
    # Nothing ran and no element of the payloads exists.
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.title().startswith("Theme digest")
    assert page.locator("img, iframe, a[href^='javascript']").count() == 0
    assert page.locator("script").count() == 2  # the embedded data and the filter script
    handlers = page.evaluate(
        "Array.from(document.querySelectorAll('*')).flatMap(el => "
        "Array.from(el.attributes).map(a => a.name)).filter(name => name.startsWith('on'))"
    )
    assert handlers == []
    # The filters (which write into the page) keep it inert too.
    page.select_option("#filter-business", "payments")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    opened.assert_quiet()
