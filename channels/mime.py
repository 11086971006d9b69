"""Transactional email written straight to wire bytes (RFC 5322, MIME, RFC 2047).

heard's messages have one fixed shape: a handful of headers, a text part and an
optional HTML part, both UTF-8. The stdlib `email` generator re-folds and re-encodes
every header and part for any shape of message, and took ten times longer than the
SMTP send of the result; this writer does only what this shape needs. Every value is
confined to its header: line breaks are collapsed, non-ASCII text becomes RFC 2047
encoded words, and bodies are quoted-printable, so a boundary (which holds `=_`)
can never occur in them.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable
from email.utils import formataddr

CRLF = b"\r\n"
MAX_LINE = 78  # RFC 5322 recommends 78; 998 is the hard limit
HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII without ':' or space
WORD_BYTES = 45  # 45 bytes of UTF-8 -> 60 base64 chars; an encoded word stays <= 75


class MimeError(ValueError):
    """A value that cannot be written as a well-formed header."""


def single_line(value: str) -> str:
    """Collapse every run of whitespace (including CR and LF) to one space."""
    return " ".join(value.split())


def encoded_words(value: str, first_bytes: int = WORD_BYTES) -> list[str]:
    """RFC 2047 `=?utf-8?b?...?=` words, each within 75 chars, never splitting a character.

    The first word holds at most `first_bytes`, so it fits on the line beside the header name.
    """
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > (WORD_BYTES if words else first_bytes) and chunk:
            words.append(_word(bytes(chunk)))
            chunk.clear()
        chunk += encoded
    if chunk:
        words.append(_word(bytes(chunk)))
    return words


def _word(raw: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(raw).decode('ascii')}?="


def fold(name: str, tokens: Iterable[str]) -> bytes:
    """`Name: tokens...` folded at spaces so lines stay within 78 chars where possible."""
    lines: list[str] = []
    line = f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > MAX_LINE and line != f"{name}:":
            lines.append(line)
            line = ""
        line = f"{line} {token}"
    lines.append(line)
    if any(len(text) > 998 for text in lines):
        raise MimeError(f"the {name} header has a word longer than 998 characters")
    return "\r\n".join(lines).encode("ascii") + CRLF


def text_header(name: str, value: str) -> bytes:
    """An unstructured header (Subject, X-...): plain when ASCII, encoded words otherwise."""
    if not HEADER_NAME.fullmatch(name):
        raise MimeError(f"not a valid header name: {name!r}")
    value = single_line(value)
    if value.isascii():
        return fold(name, value.split(" ") if value else [])
    return fold(name, encoded_words(value, _first_word_bytes(name)))


def address_header(name: str, addr_spec: str, display_name: str | None) -> bytes:
    """`Name <addr>`, the name quoted when ASCII and RFC 2047-encoded otherwise."""
    display = single_line(display_name or "")
    if display.isascii():
        return fold(name, formataddr((display, addr_spec)).split(" "))
    return fold(name, [*encoded_words(display, _first_word_bytes(name)), f"<{addr_spec}>"])


def _first_word_bytes(name: str) -> int:
    """Bytes an encoded word may carry to fit after `Name: ` on a 78-char line."""
    room = MAX_LINE - len(name) - 2 - len("=?utf-8?b??=")
    return max(4, min(WORD_BYTES, room // 4 * 3))


def quoted_printable(content: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends (soft breaks keep lines within 76)."""
    normalised = content.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(normalised, quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", CRLF)


def _part_headers(subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
    ).encode("ascii")


def assemble(headers: list[bytes], text: str, html: str | None) -> bytes:
    """Headers, then a text/plain body or a multipart/alternative of text and HTML."""
    head = b"".join(headers) + b"MIME-Version: 1.0\r\n"
    if not html:
        return head + _part_headers("plain") + CRLF + quoted_printable(text) + CRLF
    boundary = f"=_heard_{uuid.uuid4().hex}".encode("ascii")
    parts = [head, b'Content-Type: multipart/alternative;\r\n boundary="', boundary, b'"\r\n\r\n']
    # Text first, HTML last: clients show the last part they can.
    for subtype, body in (("plain", text), ("html", html)):
        parts += [b"--", boundary, CRLF, _part_headers(subtype), CRLF, quoted_printable(body), CRLF]
    parts += [b"--", boundary, b"--", CRLF]
    return b"".join(parts)
