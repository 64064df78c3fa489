"""The matrix's rows as HTML, built in Python.

A page shows 200 rows of 5 cells with a dozen conditions each: through the template language that
was 70 % of a filter keystroke's server time (every `{{ cell.x }}` a lookup chain). Here each
value is escaped once (`escape`) and joined; `templates/promotions/partials/matrix.html` places the
result. Every value that comes from Git, a cluster or a person is escaped: none becomes markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape as _escape
from urllib.parse import quote

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from promotions.matrix.dashboard import DashboardCell, DashboardRow


def escape(value: object) -> str:
    """`value` as HTML text, quotes included (what django.utils.html.escape does, without its lazy-string
    wrapper: ~25,000 calls a page)."""
    return _escape(str(value), quote=True)


# Direction against the upstream, in shape and words as well as colour (the legend under the table
# says the same): never colour alone.
RELATION_MARKS = {
    "same": ("=", "same as upstream"),
    "behind": ("▼", "behind"),
    "ahead": ("▲", "ahead"),
    "diverged": ("⑂", "diverged"),
    "unknown": ("?", "unordered"),
}


def matrix_rows(rows: Iterable[DashboardRow], requestable: Iterable[str]) -> SafeString:
    """The `<tr>`s of `rows`; a "promote" link on cells behind an upstream in stages the viewer may
    request promotions to (`requestable`)."""
    allowed = frozenset(requestable)
    promote = reverse("promote")
    out: list[str] = []
    for row in rows:
        app = row.application
        out.append(f'<tr>\n        <th class="app"><a href="{escape(reverse("application", args=[app]))}">'
                   f"{escape(app)}</a></th>\n        ")  # fmt: skip
        out.extend(_cell(row.application, cell, promote if cell.stage in allowed else "") for cell in row.cells)
        out.append("\n      </tr>\n")
    return mark_safe("".join(out))


def _cell(application: str, cell: DashboardCell, promote: str) -> str:
    title = escape(cell.title)
    if cell.absent:
        waiting = "".join(f' <a class="moving" href="{reverse("promotion", args=[m.pk])}">#{m.pk}: {escape(m.gate)}</a>'
                         for m in cell.moving)  # fmt: skip
        return f'<td class="absent" title="{title}">—{waiting}</td>'
    if cell.error:
        message = escape(cell.error)
        return (
            f'<td class="err" title="{title}"><span class="badge">error</span> <span class="msg">{message}</span></td>'
        )
    relation = cell.relation or ""
    parts = [f'<td class="{escape(relation)}" title="{title}"><code class="v">{escape(cell.version)}</code> '
             f'<span class="age">{escape(cell.age)}</span>']  # fmt: skip
    if relation in RELATION_MARKS:
        shape, words = RELATION_MARKS[relation]
        against = f" {escape(cell.upstream)}" if cell.behind else ""
        if relation == "same":  # the usual case: the shape alone, the words for screen readers
            parts.append(f' <span class="rel" aria-hidden="true">{shape}</span><span class="sr-only"> {words}</span>')
        else:
            parts.append(f' <span class="rel">{shape} {words}{against}</span>')
    if cell.pin is not None:
        parts.append(f' <span class="pin" title="rolled back by #{cell.pin.rollback}: automatic promotions and '
                     f'&quot;promote all&quot; leave it">📌 pinned</span>')  # fmt: skip
    live = cell.live
    if cell.live_stale and live is not None:
        parts.append(
            f'<span class="live stale"><i></i>{escape(live.health)} {escape(cell.live_age)} ago — stale</span>'
        )
    elif live is not None:
        if live.sync == "Synced":
            shown = f"{escape(live.ready)}/{escape(live.desired)}"
        elif live.versions:
            shown = "runs " + escape(", ".join(str(v) for v in live.versions))
        else:
            shown = escape(live.health)
        parts.append(f'<span class="live h-{escape(str(live.health).lower())} s-{escape(str(live.sync).lower())}">'
                     f"<i></i>{shown}</span>")  # fmt: skip
        if live.health == "Unknown" and live.reason:  # why, as text: not only in a tooltip
            parts.append(f'<span class="live-why">{escape(_short(live.reason))}</span>')
    line = cell.operator_line
    if line:
        parts.append(f'<span class="op op-{escape(cell.operator.get("verdict", ""))}">{escape(line)}</span>')
    for moving in cell.moving:
        parts.append(f' <a class="moving state-{escape(moving.state)}" href="{reverse("promotion", args=[moving.pk])}">'
                     f"#{moving.pk} → {escape(moving.to_version)}: {escape(moving.gate)}</a>")  # fmt: skip
    if cell.behind and promote and not cell.pin:
        query = "&amp;".join(f"{k}={quote(v, safe='/')}" for k, v in
                             (("app", application), ("from", cell.upstream), ("to", cell.stage)))  # fmt: skip
        parts.append(
            f' <a class="promote" href="{promote}?{query}" title="promote from {escape(cell.upstream)}">promote</a>'
        )
    parts.append("</td>")
    return "".join(parts)


def _short(text: str, limit: int = 80) -> str:
    """The first line of `text`, cut to `limit` characters (the whole of it is in the title)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
