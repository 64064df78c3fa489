"""The matrix rows built in Python: every value from Git, a cluster or a catalogue is escaped."""

from datetime import UTC, datetime

from promotions.matrix.dashboard import CellLive, DashboardCell, DashboardRow
from promotions.web.matrix_rows import matrix_rows

BAD = '"><img src=x onerror=alert(1)>'
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def live(**overrides) -> CellLive:
    values = {"health": "Healthy", "sync": "Synced", "versions": ["1.0.0"], "ready": 3, "desired": 3, "reason": "",
              "observed_at": NOW, "operator": {}} | overrides  # fmt: skip
    return CellLive(**values)


def test_hostile_values_in_every_field_stay_text(settings):
    cells = [
        DashboardCell(
            "dev",
            BAD,
            None,
            False,
            True,
            BAD,
            BAD,
            upstream=BAD,
            live=live(sync="OutOfSync", versions=[BAD]),
            relation="behind",
        ),
        DashboardCell("staging", None, BAD, False, False, "", BAD),
        DashboardCell(
            "production", "1.0.0", None, False, False, "3d", "t", live=live(health=BAD, sync=BAD), relation="ahead"
        ),
        DashboardCell(
            "dr",
            "1.0.0",
            None,
            False,
            False,
            "3d",
            "t",
            live=live(operator={"verdict": BAD, "operator": "Flux", "summary": BAD}),
            relation="diverged",
        ),
    ]
    html = str(matrix_rows([DashboardRow(BAD, "platform", cells)], requestable=["dev"]))
    assert "<img" not in html
    assert '"&gt;' not in html  # a quote that would close an attribute is escaped too
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 8
    assert 'href="/promote/?app=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E&amp;from=' in html


def test_cells_say_what_the_template_said():
    cells = [
        DashboardCell("dev", "1.1.0", None, False, False, "2d", "dev/web/k.yaml:7", live=live()),
        DashboardCell(
            "staging",
            "1.0.0",
            None,
            False,
            True,
            "5d",
            "t",
            upstream="dev",
            live=live(sync="OutOfSync", versions=["1.0.0", "0.9.0"]),
            relation="behind",
        ),
        DashboardCell("production", None, None, True, False, "", "not in this stage"),
    ]
    html = str(matrix_rows([DashboardRow("web", "platform", cells)], requestable=["production"]))
    assert '<th class="app"><a href="/apps/web/">web</a></th>' in html
    assert ('<td class="" title="dev/web/k.yaml:7"><code class="v">1.1.0</code> <span class="age">2d</span>'
            '<span class="live h-healthy s-synced"><i></i>3/3</span></td>') in html  # fmt: skip
    assert '<span class="rel">▼ behind dev</span>' in html
    assert "runs 1.0.0, 0.9.0" in html
    assert 'class="promote"' not in html  # staging is behind, but this viewer may not request promotions to it
    assert '<td class="absent" title="not in this stage">—</td>' in html
    html = str(matrix_rows([DashboardRow("web", "platform", cells)], requestable=["staging"]))
    assert '<a class="promote" href="/promote/?app=web&amp;from=dev&amp;to=staging" title="promote from dev">' in html
