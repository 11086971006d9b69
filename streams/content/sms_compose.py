"""A text message composed to fit its segment budget, from parts the writer ranked.

An SMS template marks what may give way when a message runs long:

    {{ customer.greeting_name }}, {{ ticket.id }} is resolved.
    {% part 2 shorten %} What changed: {{ summary.what_changed }}{% endpart %}
    {% part 3 shorten %} Cause: {{ summary.what_happened }}{% endpart %}
    {% part 4 %} Thank you for your patience.{% endpart %} Reply 1-5.

Text outside a part always goes: who, what happened, the time, the amount or reference, how
to reply. When the whole message is over its budget, parts give way from the highest number
(the least needed) down, one at a time, until it fits: a part marked `shorten` (a free text
an agent wrote) is first cut at the end of a sentence, then between words, only as much as
it must, and never inside a word, number, amount, time or reference; any other part, or a
free text that would keep fewer than MIN_WORDS words, is left out whole. A message that is
over its budget with every part gone goes as it is (lint shows it, per persona). Nothing is
ever cut at a fixed number of characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.parser import Parser

from heard.streams.content.sms_segments import segments

# Around each part's rendered text: control characters the event contract refuses in every
# value, so no customer's or agent's words can forge one.
OPEN, CLOSE, END = "\x02", "\x03", "\x04"
_PART = re.compile(f"{OPEN}(\\d+)([as]){CLOSE}(.*?){END}", re.DOTALL)
MIN_WORDS = 3
ELLIPSIS = "..."  # GSM-7: "…" would switch the whole message to UCS-2


class PartExtension(Extension):
    """`{% part N [shorten] %}...{% endpart %}`: a ranked part of a text message."""

    tags = {"part"}  # noqa: RUF012 - Jinja's own class attribute

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        rank = parser.parse_expression()
        shorten = parser.stream.skip_if("name:shorten")
        body = parser.parse_statements(("name:endpart",), drop_needle=True)
        call = self.call_method("_mark", [rank, nodes.Const(shorten)])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _mark(self, rank: Any, shorten: bool, caller: Any) -> str:
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            raise ValueError(f"a part's rank is a whole number from 1, not {rank!r}")
        text = str(caller())
        if OPEN in text:
            raise ValueError("a part inside a part: close the first with {% endpart %}")
        return f"{OPEN}{rank}{'s' if shorten else 'a'}{CLOSE}{text}{END}"


@dataclass
class Piece:
    text: str
    rank: int = 0  # 0: not a part, always sent
    shorten: bool = False
    kept: str = ""

    def __post_init__(self) -> None:
        self.kept = self.text


@dataclass
class Composed:
    text: str
    # What gave way, for lint and the studio: "left out: ' Thank you...'", "shortened: ...".
    gave_way: list[str] = field(default_factory=list)


def strip_parts(text: str) -> str:
    """The text with every part kept whole (email, or a message without a budget)."""
    return _PART.sub(lambda match: match.group(3), text)


def compose(text: str, budget: int | None) -> Composed:
    """Fit `text` (rendered, with its parts marked) into `budget` segments."""
    pieces = _pieces(text)
    if budget is None or _segments(pieces) <= budget:
        return Composed(_joined(pieces))
    gave_way: list[str] = []
    # The least needed first; of two equally needed, the later in the message.
    ranked = sorted((n for n, p in enumerate(pieces) if p.rank), key=lambda n: (-pieces[n].rank, -n))
    for piece in (pieces[n] for n in ranked):
        if piece.shorten and _shorten_to_fit(pieces, piece, budget):
            words = " ".join(piece.kept.split())
            gave_way.append(
                f"part {piece.rank} shortened to {len(piece.kept.split())} of "
                f"{len(piece.text.split())} words, ending '...{words[-40:]}'"
            )
            return Composed(_joined(pieces), gave_way)
        piece.kept = ""
        gave_way.append(f"part {piece.rank} left out: {_quoted(piece.text)}")
        if _segments(pieces) <= budget:
            return Composed(_joined(pieces), gave_way)
    # What must go is over the budget by itself: leaving parts out would lose facts and
    # still not fit, so the whole message goes (lint says so, with how much to cut).
    for piece in pieces:
        piece.kept = piece.text
    return Composed(_joined(pieces), [f"over {budget} segment(s) even with every part left out: sent whole"])


def _pieces(text: str) -> list[Piece]:
    pieces, at = [], 0
    for match in _PART.finditer(text):
        pieces.append(Piece(text[at : match.start()]))
        pieces.append(Piece(match.group(3), int(match.group(1)), match.group(2) == "s"))
        at = match.end()
    pieces.append(Piece(text[at:]))
    if any(mark in piece.text for piece in pieces for mark in (OPEN, CLOSE, END)):
        raise ValueError("a part that is not closed: end it with {% endpart %}")
    return [piece for piece in pieces if piece.text or piece.rank]


def _joined(pieces: list[Piece]) -> str:
    text = re.sub(r"\s+", " ", "".join(piece.kept for piece in pieces))
    # A part left out leaves its neighbours' spaces side by side, or one before a stop; a
    # part cut with an ellipsis needs no full stop after it.
    text = re.sub(r" +([.,;!?])", r"\1", text)
    return text.replace(ELLIPSIS + ".", ELLIPSIS).strip()


def _segments(pieces: list[Piece]) -> int:
    return segments(_joined(pieces))[0]


def _shorten_to_fit(pieces: list[Piece], piece: Piece, budget: int) -> bool:
    """The longest cut of the piece (at a sentence's end, else between words) with which
    the message fits; False, with the piece whole, if none keeps MIN_WORDS words."""
    for candidate in _cuts(piece.text):
        piece.kept = candidate
        if _segments(pieces) <= budget:
            return True
    piece.kept = piece.text
    return False


def _cuts(text: str) -> list[str]:
    """Shorter forms of a free text, longest first: whole sentences, then whole words with
    an ellipsis. A word is whatever stands between spaces, so "€1,250.00", "14:30" and
    "RF-88412" are never split. What leads the part (", " or " (") stays, and a bracket it
    opened is closed again."""
    lead = re.match(r"^[\s,;:(–-]*", text)
    head = lead.group(0) if lead else ""
    body = text[len(head) :].rstrip()
    close = ")" if "(" in head and body.endswith(")") else ""
    words = body.removesuffix(close).split()
    # A label the part opens with ("Cause:", "Prévention :") is not what the reader needs.
    label = next((n + 1 for n, word in enumerate(words[:3]) if word.endswith(":")), 0)
    least = label + MIN_WORDS
    sentence_ends = [n for n in range(least, len(words)) if words[n - 1][-1:] in ".!?"]
    by_sentence = [head + " ".join(words[:n]) + close for n in reversed(sentence_ends)]
    by_word = [
        head + " ".join(words[:n]).rstrip(",;:-–—") + ELLIPSIS + close
        for n in range(len(words) - 1, least - 1, -1)
    ]
    return by_sentence + by_word


def _quoted(text: str) -> str:
    shown = " ".join(text.split())
    return f"'{shown[:60]}{'...' if len(shown) > 60 else ''}'"
