"""The text tables' value form on their changelogs: `json` (each value a JSON string, as
earlier releases wrote) or `text` (the value itself). Either release reads both, so a
changelog that holds both forms during the two-step upgrade recovers whole."""

from __future__ import annotations

import json

import pytest

from heard.streams.base.settings import EngineSettings
from heard.streams.kafka import table_codec
from heard.streams.ops.erasure import _state
from heard.streams.worker.app import Tables, faust_app

STATE = json.dumps({"ticket_id": "T-1", "customer": {"name": 'Zoë "Z" Ortiz', "note": "a\\b"}})


def tables(form: str) -> Tables:
    engine = EngineSettings(replication_factor=1, table_values=form)
    return Tables.of(faust_app(engine), engine.partitions, engine.table_values)


@pytest.mark.parametrize("form", ["json", "text"])
def test_every_text_table_writes_its_form_on_the_changelog_and_the_store(form: str) -> None:
    made = tables(form)
    for table in (made.tickets, made.receipts, made.provider_status, made.sms_questions):
        assert table.changelog_topic.value_serializer == table_codec.CODECS[form], table.name
        assert table.data.value_serializer == table_codec.CODECS[form], table.name
        assert table.changelog_topic.compacting and table.changelog_topic.partitions == 4
    assert made.due_index.value_serializer == "json", "the due times are numbers: unchanged"
    written = made.tickets.data._encode_value(STATE)
    assert written == (json.dumps(STATE).encode() if form == "json" else STATE.encode())


@pytest.mark.parametrize(("writer", "reader"), [("json", "text"), ("text", "json"), ("text", "text")])
def test_a_value_written_in_either_form_reads_back_whole_in_the_other_release(
    writer: str, reader: str
) -> None:
    written, read = tables(writer), tables(reader)
    for value in (STATE, "delivered", '"quoted" from the start', ""):
        raw = written.tickets.data._encode_value(value)
        assert read.tickets.data._decode_value(raw) == value, (writer, reader, value)


def test_the_text_form_is_the_value_itself_unless_it_would_read_as_the_old_form() -> None:
    text = table_codec.TextTableValues()
    assert text.dumps(STATE) == STATE.encode() and text.dumps("delivered") == b"delivered"
    assert text.dumps('"x"') == json.dumps('"x"').encode()
    assert len(text.dumps(STATE)) < len(table_codec.JsonTableValues().dumps(STATE))


def test_a_quoted_value_that_is_no_json_string_is_refused() -> None:
    with pytest.raises(ValueError):
        table_codec.read_value(b'"unterminated')


def test_erasure_finds_a_person_in_either_form_of_the_tickets_changelog() -> None:
    for form in ("json", "text"):
        raw = tables(form).tickets.data._encode_value(STATE)
        assert _state(raw) == json.loads(STATE), form
