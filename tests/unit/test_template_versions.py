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
    assert any(path.endswith(".html") for path in TemplateSet.pack(folder).files), "layouts and pages too"
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


def test_the_records_on_the_topic_read_as_documented_and_the_same_version_packs_to_the_same_bytes() -> None:
    """The two records other tools read (docs/operations.md, `heard templates versions`): each
    field named as documented. A version packed twice, at any time, is the same bytes: the
    gzip header carries no packing time, so a republished version is no new record."""
    import base64
    import gzip
    import json

    templates = TemplateSet({"b/en/sms.txt": "Hi", "a/en/sms.txt": "Yo"})
    record = json.loads(Published(templates, AT, "ana").to_json())
    packed = base64.b64decode(record.pop("files_gzip_b64"))
    assert record == {
        "record": "template_version",
        "version": templates.version,
        "published_at": "2026-12-07T09:30:00+00:00",
        "by": "ana",
    }
    assert packed[4:8] == b"\0\0\0\0", "no packing time in the gzip header"
    assert json.loads(gzip.decompress(packed)) == templates.files
    assert (
        Published(templates, AT, "ana").to_json()
        == Published(TemplateSet(dict(reversed(templates.files.items()))), AT, "ana").to_json()
    )
    assert json.loads(Current("abc", AT, "ana", "publish").to_json()) == {
        "record": "template_current",
        "version": "abc",
        "at": "2026-12-07T09:30:00+00:00",
        "by": "ana",
        "action": "publish",
        "previous": None,
    }


def test_a_versions_name_depends_on_paths_and_texts_apart_never_on_their_order() -> None:
    one = TemplateSet({"a.txt": "bc", "d.txt": "e"})
    assert one.version == TemplateSet({"d.txt": "e", "a.txt": "bc"}).version
    assert (
        one.version
        != TemplateSet({"ab.txt": "c", "d.txt": "e"}).version
        != TemplateSet({"a.txt": "bcd.txte"}).version
    )
    assert one.version != TemplateSet({"a.txt": "bc", "d.txt": "e", "f.txt": ""}).version
    assert all(c in "0123456789abcdef" for c in one.version)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"files_gzip_b64": "not base64!", "published_at": "2026-12-07T09:30:00+00:00", "by": "a"}',
        b'{"files_gzip_b64": "aGVsbG8=", "published_at": "2026-12-07T09:30:00+00:00", "by": "a"}',
        b'{"files_gzip_b64": "H4sIAAAAAAAC/6uuBQBDv6ajAgAAAA==", "published_at": "yesterday", "by": "a"}',
    ],
)
def test_a_record_that_is_no_version_is_refused_with_its_cause(raw: bytes) -> None:
    with pytest.raises(NotAVersion, match=r"not a template version: \w+: "):
        Published.from_json(raw)


@pytest.mark.parametrize(
    "raw", [b"not json", b"{}", b'{"version": "a", "at": "when", "by": "a", "action": "publish"}', b"[1]"]
)
def test_a_current_record_that_is_not_one_is_refused_with_its_cause(raw: bytes) -> None:
    with pytest.raises(NotAVersion, match=r"not a current-version record: \w+: "):
        Current.from_json(raw)


def test_versions_and_their_records_cannot_change_in_place() -> None:
    """One version is shared by every listener of a worker: a slip that changed it would
    change what every later message renders with."""
    import dataclasses

    templates = TemplateSet({"a.txt": "x"})
    for record, field in (
        (templates, "files"),
        (Published(templates, AT, "ana"), "by"),
        (Current("abc", AT, "ana", "publish"), "version"),
    ):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)


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


def test_a_version_is_staged_beside_its_folder_and_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staged in a hidden folder named for the version, on the same disk as its place (a
    rename there is atomic); the folders above are made as needed."""
    import os

    from heard.streams.content import published

    templates = TemplateSet({"acknowledgment/en/sms.txt": "Hi"})
    root = tmp_path / "data" / "published"
    renames: list[tuple[Path, Path]] = []
    real_rename = os.rename

    def rename(source: str | Path, target: str | Path) -> None:
        renames.append((Path(source), Path(target)))
        real_rename(source, target)

    monkeypatch.setattr(published.os, "rename", rename)
    folder = lay_out(templates, root)
    [(staged, placed)] = renames
    assert placed == folder == root / templates.version
    assert staged.parent == root and staged.name.startswith(f".{templates.version}-")


def test_a_version_another_worker_laid_out_first_is_taken_and_nothing_is_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heard.streams.content import published

    templates = TemplateSet({"acknowledgment/en/sms.txt": "Hi"})
    root = tmp_path / "laid"

    def beaten(source: str | Path, target: str | Path) -> None:
        Path(target).mkdir(parents=True)  # the other worker's rename landed first
        raise OSError(39, "Directory not empty")

    monkeypatch.setattr(published.os, "rename", beaten)
    assert lay_out(templates, root) == root / templates.version
    assert [p.name for p in root.iterdir()] == [templates.version], "the staging folder is gone"

    def refused(source: str | Path, target: str | Path) -> None:
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(published.os, "rename", refused)
    with pytest.raises(OSError, match="Permission denied"):
        lay_out(TemplateSet({"a.txt": "other"}), root)
    assert [p.name for p in root.iterdir()] == [templates.version], "a failed layout leaves nothing"


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


def test_whatif_counts_the_changes_per_kind_their_sms_cost_and_what_would_not_render(tmp_path: Path) -> None:
    from heard.streams.content.lint import sms_budget
    from heard.streams.content.whatif import whatif
    from tests.unit.test_worker_agents import customer_message

    texting = {"phone": "+14155550123", "preferred_channel": "sms", "consent": {"email": False, "sms": True}}
    sent = [customer_message(f"T-{n}") for n in range(3)]
    sent += [customer_message(f"T-s{n}", **texting) for n in range(2)]
    assert [n.channel for n in sent] == ["email"] * 3 + ["sms"] * 2
    draft_folder = draft(tmp_path)
    budget = sms_budget(REPO / "config")
    sms = draft_folder / "acknowledgment/en/sms.txt"
    sms.write_text(sms.read_text().strip() + " " + "We are on it, and we will not let it drop. " * 4)
    before, after = Renderer(REPO / "templates", sms_budget=budget), Renderer(draft_folder, sms_budget=budget)
    [report] = whatif([*sent, sent[0]], before, after).values()
    assert (report.kind, report.messages, report.changed, report.errors) == ("acknowledgment", 5, 2, [])
    assert report.parts_after > report.parts_before and report.costlier == 2
    assert report.samples[0] == "  T-s0, sms, en:"
    assert any(line.startswith("    +") and "will not let it drop" in line for line in report.samples)
    assert report.lines()[0] == "acknowledgment: 5 message(s), 2 change"

    email = draft_folder / "acknowledgment/en/email.txt"
    email.write_text("{{ customer.greeting_name }")
    [broken] = whatif(sent, before, Renderer(draft_folder, sms_budget=budget)).values()
    assert len(broken.errors) == 3 and broken.errors[0].startswith(f"{sent[0].notification_id} (email, en): ")
    assert "3 would not render" in broken.lines()[0]
    [same] = whatif(sent, before, before).values()
    assert (same.changed, same.parts_before == same.parts_after, same.lines()[0]) == (
        0,
        True,
        "acknowledgment: 5 message(s), none change",
    )


@pytest.mark.parametrize(("text", "hours"), [("7d", 168), ("12h", 12), ("90m", 1.5), (" 1d ", 24)])
def test_whatif_looks_back_as_far_as_it_is_told(text: str, hours: float) -> None:
    from heard.streams.delivery.template_publishing import since_span

    assert since_span(text).total_seconds() == hours * 3600


@pytest.mark.parametrize("text", ["7", "d", "7w", "-1d", "1.5h"])
def test_whatif_refuses_a_span_it_cannot_read(text: str) -> None:
    from heard.streams.delivery.template_publishing import since_span

    with pytest.raises(ValueError, match="give a number and d, h or m"):
        since_span(text)


def test_a_worker_is_not_ready_until_the_published_templates_are_read() -> None:
    import asyncio
    from types import SimpleNamespace

    from heard.streams.delivery.consent import ConsentLedger
    from heard.streams.worker.app import not_ready_because

    recovered = asyncio.Event()
    recovered.set()
    app = SimpleNamespace(
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=recovered)), rebalancing=False
    )
    ledger = ConsentLedger()
    ledger.ready.set()
    read = asyncio.Event()
    assert not_ready_because(app, ledger, None, read) == ["the published templates are being read"]  # type: ignore[arg-type]
    read.set()
    assert not_ready_because(app, ledger, None, read) == []  # type: ignore[arg-type]
