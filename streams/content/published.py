"""Published template versions: a writer's folder is a draft; a published version is the
whole set, immutable and named by a hash of its content, that workers render with.

Pure: packing a folder into a version, its record on the templates topic, and laying a
version out on disk for a worker's renderer. Publishing and following the topic are
`heard.streams.delivery.template_store`'s.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# Files a template set holds: what Jinja reads (templates, layouts, pages, footers).
TEMPLATE_SUFFIXES = (".txt", ".html")


class NotAVersion(ValueError):
    """A record on the templates topic that is not a version heard published."""


@dataclass(frozen=True)
class TemplateSet:
    """Every template file of a set, by its path under the templates folder."""

    files: dict[str, str]

    @property
    def version(self) -> str:
        """12 hex digits of a SHA-256 over every path and content, in path order: the same
        set is the same version wherever and whenever it is packed."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + self.files[path].encode() + b"\0")
        return digest.hexdigest()[:12]

    @classmethod
    def pack(cls, folder: Path) -> TemplateSet:
        files = {
            path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(folder.rglob("*"))
            if path.is_file() and path.suffix in TEMPLATE_SUFFIXES
        }
        if not files:
            raise NotAVersion(f"no templates in {folder}")
        return cls(files)


@dataclass(frozen=True)
class Published:
    """A version as the templates topic keeps it (key `version:<version>`)."""

    templates: TemplateSet
    published_at: datetime
    by: str

    @property
    def version(self) -> str:
        return self.templates.version

    def to_json(self) -> bytes:
        # The files travel compressed: a whole set is ~400 KB of text, ~60 KB gzipped,
        # well under a broker's default 1 MB record limit.
        packed = gzip.compress(json.dumps(self.templates.files, sort_keys=True).encode(), mtime=0)
        return json.dumps(
            {
                "record": "template_version",
                "version": self.version,
                "published_at": self.published_at.isoformat(),
                "by": self.by,
                "files_gzip_b64": base64.b64encode(packed).decode(),
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Published:
        try:
            data = json.loads(raw)
            files = json.loads(gzip.decompress(base64.b64decode(data["files_gzip_b64"])))
            published = cls(TemplateSet(files), datetime.fromisoformat(data["published_at"]), str(data["by"]))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise NotAVersion(f"not a template version: {type(exc).__name__}: {exc}") from exc
        if published.version != data.get("version"):
            raise NotAVersion(f"its files hash to {published.version}, not {data.get('version')}")
        return published


@dataclass(frozen=True)
class Current:
    """Which version workers render with (key `current`), and how it came to be."""

    version: str
    at: datetime
    by: str
    action: str  # "publish" or "rollback"
    previous: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "record": "template_current",
                "version": self.version,
                "at": self.at.isoformat(),
                "by": self.by,
                "action": self.action,
                "previous": self.previous,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Current:
        try:
            data = json.loads(raw)
            return cls(
                str(data["version"]),
                datetime.fromisoformat(data["at"]),
                str(data["by"]),
                str(data["action"]),
                data.get("previous"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise NotAVersion(f"not a current-version record: {type(exc).__name__}: {exc}") from exc


def lay_out(templates: TemplateSet, root: Path) -> Path:
    """The version's files under `root/<version>/`, written once: a version never changes, so
    a folder already there is that version (written whole, then renamed into place)."""
    target = root / templates.version
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{templates.version}-", dir=root))
    try:
        for path, text in templates.files.items():
            if Path(path).is_absolute() or ".." in Path(path).parts:
                raise NotAVersion(f"a template path outside the set: {path!r}")
            destination = staging / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text, encoding="utf-8")
        os.rename(staging, target)
    except OSError:  # another worker on this disk laid out the same version first
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when the rename took it
    return target
