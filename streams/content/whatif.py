"""`heard templates whatif`: the messages heard really sent, rendered again with the draft,
against the published version: per kind, how many change, what a change looks like, what
texts cost in SMS parts before and after, and which would not render at all — before
anything is published.

The messages come from the outbox topic (`notifications-outbound`): each notification as
decided, with the context it was rendered from, kept for the topic's retention. Links are
added as a message goes, so neither side has them: the comparison is of the wording.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from heard.streams.content.rendering import Rendered, Renderer, TemplateProblem
from heard.streams.content.sms_segments import segments
from heard.streams.contract.state import Notification


@dataclass
class KindReport:
    kind: str
    messages: int = 0
    changed: int = 0
    # Text messages' billed parts, before and after, over the texts of this kind.
    parts_before: int = 0
    parts_after: int = 0
    costlier: int = 0
    # "<notification id>: <the draft's problem>" for each message the draft cannot render.
    errors: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"{self.kind}: {self.messages} message(s), " + (
            f"{self.changed} change" if self.changed else "none change"
        )
        if self.errors:
            head += f", {len(self.errors)} would not render"
        said = [head]
        if self.parts_before or self.parts_after:
            delta = self.parts_after - self.parts_before
            said.append(
                f"  SMS: {self.parts_before} part(s) before, {self.parts_after} after ({delta:+d}); "
                f"{self.costlier} text(s) cost more"
            )
        said.extend(f"  would not render: {error}" for error in self.errors[:5])
        said.extend(self.samples)
        return said


def _words(rendered: Rendered) -> list[str]:
    """What a reader reads of a message, in the order they read it."""
    parts = [f"Subject: {rendered.subject}"] if rendered.subject is not None else []
    parts.extend(rendered.text.splitlines())
    if rendered.html is not None:
        parts.extend(["", "(HTML)", *rendered.html.splitlines()])
    return parts


def _render(renderer: Renderer, n: Notification) -> Rendered:
    return renderer.render(
        n.kind, n.channel, n.locale, n.timezone, n.context, plain_text_only=n.plain_text_only
    )


def whatif(
    sent: Iterable[Notification], before: Renderer, after: Renderer, samples_per_kind: int = 1
) -> dict[str, KindReport]:
    """Each kind's report, the notifications compared one by one (each id once)."""
    reports: dict[str, KindReport] = {}
    seen: set[str] = set()
    for n in sent:
        if n.notification_id in seen:
            continue  # a retried or re-delivered message is one message
        seen.add(n.notification_id)
        report = reports.setdefault(n.kind, KindReport(n.kind))
        report.messages += 1
        try:
            old = _render(before, n)
        except TemplateProblem:
            old = None  # the published version could not render it either: the draft is all there is
        try:
            new = _render(after, n)
        except TemplateProblem as exc:
            report.errors.append(f"{n.notification_id} ({n.channel}, {n.locale}): {exc}")
            continue
        if n.channel == "sms":
            was, now = (segments(old.text)[0] if old else 0), segments(new.text)[0]
            report.parts_before += was
            report.parts_after += now
            report.costlier += now > was
        old_words, new_words = (_words(old) if old else []), _words(new)
        if old_words == new_words:
            continue
        report.changed += 1
        if len(report.samples) < samples_per_kind:
            diff = difflib.unified_diff(old_words, new_words, "published", "draft", lineterm="", n=1)
            report.samples.append(f"  {n.ticket_id}, {n.channel}, {n.locale}:")
            report.samples.extend(f"    {line}" for line in diff)
    return reports
