"""Published template versions, the pure part: a set named by its content, its record on the
templates topic, its layout on disk, and a worker's switch between two messages (the topic
itself is exercised on the real stack in tests/integration/test_template_versions.py)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from heard.streams.content.published import Current, NotAVersion, Published, TemplateSet, lay_out
from heard.streams.content.rendering import Renderer
from heard.streams.delivery.template_store import CURRENT, PublishedTemplates, Store
from tests.peers import REPO

AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def draft(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    return folder


def test_a_version_is_named_by_every_path_and_byte_of_the_set(tmp_path: Path) -> None:
    folder = draft(tmp_path)
    first = TemplateSet.pack(folder)
    assert len(first.version) == 12 and first.version == TemplateSet.pack(folder).version
    assert (
        first.files["acknowledgment/en/subject.txt"] == (folder / "acknowledgment/en/subject.txt").read_text()
    )
    subject = folder / "acknowledgment/en/subject.txt"
    subject.write_text(subject.read_text() + " ")
    assert TemplateSet.pack(folder).version != first.version, "one space is another version"
    subject.rename(folder / "acknowledgment/en/subject2.txt")
    assert TemplateSet.pack(folder).version not in (first.version,)
    (folder / "notes.md").write_text("a writer's notes are not templates")
    assert "notes.md" not in TemplateSet.pack(folder).files
    with pytest.raises(NotAVersion, match="no templates in"):
        TemplateSet.pack(tmp_path / "empty")


def test_a_version_travels_compressed_and_arrives_whole_or_not_at_all(tmp_path: Path) -> None:
    templates = TemplateSet.pack(draft(tmp_path))
    record = Published(templates, AT, "ana").to_json()
    assert len(record) < sum(len(text) for text in templates.files.values()) / 2
    back = Published.from_json(record)
    assert (back.version, back.by, back.published_at, back.templates) == (
        templates.version,
        "ana",
        AT,
        templates,
    )
    tampered = record.replace(templates.version.encode(), b"0" * 12)
    with pytest.raises(NotAVersion, match="hash to"):
        Published.from_json(tampered)
    with pytest.raises(NotAVersion):
        Published.from_json(b'{"version": "x"}')
    current = Current("abc", AT, "ana", "rollback", "def")
    assert Current.from_json(current.to_json()) == current


def test_a_version_is_laid_out_once_and_never_outside_its_folder(tmp_path: Path) -> None:
    templates = TemplateSet({"acknowledgment/en/sms.txt": "Hi {{ customer.greeting_name }}"})
    folder = lay_out(templates, tmp_path / "laid")
    assert folder.name == templates.version and (folder / "acknowledgment/en/sms.txt").read_text().startswith(
        "Hi"
    )
    (folder / "acknowledgment/en/sms.txt").write_text("changed on disk")
    assert lay_out(templates, tmp_path / "laid") == folder, "a version already there is that version"
    assert [p.name for p in (tmp_path / "laid").iterdir()] == [templates.version], "no staging left behind"
    for escape in ("../outside.txt", "/etc/owned.txt"):
        with pytest.raises(NotAVersion, match="outside the set"):
            lay_out(TemplateSet({escape: "x"}), tmp_path / "laid2")
    assert not (tmp_path / "outside.txt").exists()


def test_a_worker_switches_to_the_current_version_and_its_listeners_with_it(tmp_path: Path) -> None:
    folder = draft(tmp_path)
    folder_renderer = Renderer(folder)
    seen: list[str | None] = []
    held = PublishedTemplates(
        folder_renderer, tmp_path / "published", lambda path, version: Renderer(path, version=version)
    )
    held.listeners.append(lambda renderer: seen.append(renderer.version))
    held.switch()
    assert held.renderer is folder_renderer, "nothing published: the folder"
    subject = folder / "acknowledgment/en/subject.txt"
    subject.write_text("PUBLISHED ONE {{ ticket.subject }}")
    one = TemplateSet.pack(folder)
    subject.write_text("A DRAFT {{ ticket.subject }}")
    store = Store()
    store.apply(CURRENT, Current(one.version, AT, "ana", "publish").to_json())
    held.store = store
    held.switch()
    assert held.renderer is folder_renderer, "a current whose version has not arrived waits for it"
    store.apply(f"version:{one.version}".encode(), Published(one, AT, "ana").to_json())
    held.switch()
    assert held.renderer.version == one.version and seen == [one.version]
    assert held.renderer.env.get_template("acknowledgment/en/subject.txt").render(
        ticket={"subject": "x"}
    ) == ("PUBLISHED ONE x")
    held.switch()
    assert seen == [one.version], "the same version again switches nothing"


def test_a_published_set_that_does_not_compile_here_is_not_switched_to(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = draft(tmp_path)
    (folder / "acknowledgment/en/subject.txt").write_text("{{ ticket.subject }")
    broken = TemplateSet.pack(folder)
    held = PublishedTemplates(
        Renderer(REPO / "templates"), tmp_path / "p", lambda p, v: Renderer(p, version=v)
    )
    held.store.apply(f"version:{broken.version}".encode(), Published(broken, AT, "ana").to_json())
    held.store.apply(CURRENT, Current(broken.version, AT, "ana", "publish").to_json())
    held.switch()
    assert held.renderer.version is None
    assert f"templates {broken.version} do not compile here" in caplog.text


def test_records_that_are_not_versions_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    for key, value in ((CURRENT, b"{}"), (b"version:x", b"not json"), (None, b"{}"), (CURRENT, None)):
        store.apply(key, value)
    assert store.current is None and store.versions == {}
    assert caplog.text.count("ignoring a record on the templates topic") == 2
