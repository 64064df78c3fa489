"""Browser-test helpers shared by tests/browser: axe-core (the npm package) run inside a page.

axe-core comes from package.json: `npm ci` at the repository root puts it in node_modules/. It is
the tests' only use of npm; the portal itself has no JavaScript build step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
INSTALL = f"cd {ROOT} && npm ci"
BLOCKING = ("serious", "critical")  # what fails a test; "minor" and "moderate" findings are left to review

# axe goes in through page.evaluate, which the page's CSP does not govern (a <script> tag, as
# add_script_tag writes, would be refused): the pages are checked under their real policy.
RUN = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary || ""})),
  }));
}"""
# htmx polling swaps parts of some pages (a moving promotion): axe reads a page that holds still,
# then polling resumes.
HOLD = "document.body.setAttribute('hx-disable', '')"
RESUME = "document.body.removeAttribute('hx-disable'); if (window.htmx) { htmx.process(document.body); }"

Violation = dict[str, Any]


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js, or a skip (a failure where GITOPS_PORTAL_REQUIRE_BROWSER is set, as in CI)
    saying how to install it: the same rule as for Chromium."""
    if not AXE.exists():
        if os.environ.get("GITOPS_PORTAL_REQUIRE_BROWSER"):
            pytest.fail(f"axe-core is required here but missing at {AXE}: run `{INSTALL}`")
        pytest.skip(f"no axe-core at {AXE} (run `{INSTALL}`)")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def axe(axe_source: str) -> Callable[[Page], list[Violation]]:
    """`axe(page)`: axe-core's violations (every impact) on what `page` shows now."""

    def run(page: Page) -> list[Violation]:
        page.evaluate(HOLD)
        expect(page.locator(".htmx-request")).to_have_count(0)  # a swap already on its way lands first
        try:
            if not page.evaluate("typeof window.axe !== 'undefined'"):
                page.evaluate(axe_source)
            violations: list[Violation] = page.evaluate(RUN)
        finally:
            page.evaluate(RESUME)
        return violations

    return run


def axe_report(violations: list[Violation]) -> str:
    """One paragraph per rule: its id, impact and help, then each offending element's selector and why."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        lines += [f"    {node['target']}: {' '.join(node['summary'].split())}" for node in v["nodes"]]
    return "\n".join(lines)


def assert_no_serious_violations(violations: list[Violation], *, where: str) -> None:
    """Fails on any serious or critical finding, listing each: rule, impact, target selectors."""
    found = [v for v in violations if v["impact"] in BLOCKING]
    assert not found, f"axe-core on {where}: {len(found)} serious or critical finding(s)\n{axe_report(found)}"
