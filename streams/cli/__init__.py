"""`heard`: the command line. `heard --help` lists the subcommands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from heard.devstack.kafka import StackError
from heard.streams.base.settings import ConfigError
from heard.streams.base.version import installed_version
from heard.streams.cli.event_files import read_events, send_events
from heard.streams.contract.records import InvalidEvent
from heard.streams.delivery.config import Settings, load_settings

# Commands that run services and set up logging of their own.
LOGGING_COMMANDS = frozenset({"worker", "ingest", "dev", "demo", "templates"})


class UsageError(Exception):
    """A command given something it cannot use (a file that is not UTF-8, say)."""


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


# ------------------------------------------------------------------ worker
def cmd_worker(args: argparse.Namespace) -> int:
    import faust

    from heard.streams.base.http import check_free, raise_open_file_limit
    from heard.streams.base.logs import log_format, logging_config
    from heard.streams.delivery.wiring import (
        build_channels,
        helpdesk_writer,
        mail_event_keys,
        reply_links,
        twilio_auth_token,
    )
    from heard.streams.kafka.topics import prepare_topics
    from heard.streams.worker.app import build_app, prepare_data_dir

    settings = _settings(args)
    web = settings.engine.web
    if web.enabled:  # a worker without its listeners binds neither port
        check_free(web.host, web.port, "config/engine.yaml: web.port", "HEARD_WEB_PORT")
        check_free(web.ops_host, web.ops_port, "config/engine.yaml: web.ops_port", "HEARD_OPS_PORT")
    raise_open_file_limit()
    # Secrets first: a guessable one stops start-up before anything is created.
    token, links = twilio_auth_token(settings.channels), reply_links(settings.channels)
    mail_keys = mail_event_keys(settings.channels)
    notes = helpdesk_writer(settings.connectors)
    prepare_data_dir(Path(settings.engine.data_dir))
    prepared = asyncio.run(prepare_topics(settings.engine, settings.channels.retry.deferred_seconds))
    # The replication factor in force (`cluster`: the brokers' own), for Faust's changelogs.
    settings = settings.model_copy(
        update={
            "engine": settings.engine.model_copy(update={"replication_factor": prepared.replication_factor})
        }
    )
    channels = build_channels(settings.channels)
    app = build_app(
        settings, channels, twilio_auth_token=token, links=links, mail_keys=mail_keys, notes=notes
    )
    # JSON logs are for pipelines: no banner, one object per line.
    worker = faust.Worker(
        app,
        loglevel=args.loglevel,
        quiet=log_format() == "json",
        logging_config=logging_config(args.loglevel),
    )
    worker.execute_from_commandline()
    return 0


# ------------------------------------------------------------------ dev stack
def cmd_dev(args: argparse.Namespace) -> int:
    from heard.devstack import stack

    if args.action == "up":
        manifest = stack.up()
        print(f"Kafka      127.0.0.1:{manifest['kafka']['port']}")
        print(
            f"mail       127.0.0.1:{manifest['catchers']['port']}  -> {stack.state_dir() / 'outbox' / 'mail'}"
        )
        print(
            f"SMS (API)  127.0.0.1:{manifest['catchers']['sms_port']}  -> "
            f"{stack.state_dir() / 'outbox' / 'sms'}"
        )
        print("stop with: heard dev down")
    elif args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    else:
        print("\n".join(stack.status()))
    return 0


# ------------------------------------------------------------------ events
def cmd_events(args: argparse.Namespace) -> int:
    valid, problems = read_events(Path(args.file))
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.action == "validate":
        print(f"{len(valid)} valid, {len(problems)} invalid")
        return 1 if problems else 0
    if problems:
        print("refusing to send: fix the invalid events first", file=sys.stderr)
        return 1
    settings = _settings(args)
    sent = asyncio.run(send_events(settings, valid, rebase_to_now=args.rebase))
    print(f"sent {sent} events to {settings.engine.topic('ticket_events')}")
    return 0


# ------------------------------------------------------------------ explain
def cmd_explain(args: argparse.Namespace) -> int:
    from heard.streams.contract.state import decision_lines
    from heard.streams.kafka.readback import read_topic

    settings = _settings(args)
    key = args.ticket.encode()

    async def both() -> tuple[list[Any], list[Any]]:
        decided = await read_topic(settings.engine, settings.engine.topic("decisions"), key=key)
        delivered = await read_topic(settings.engine, settings.engine.topic("notification_events"), key=key)
        return decided, delivered

    decided, delivered = asyncio.run(both())
    if not decided:
        print(f"no decisions recorded for ticket {args.ticket}")
        return 1
    lines = [line for _, value, _ in decided for line in decision_lines(value)]
    for line in explain_lines(lines, [json.loads(v) for _, v, _ in delivered]):
        print(line)
    return 0


def explain_lines(decisions: list[dict[str, Any]], outcomes: list[dict[str, Any]]) -> list[str]:
    """One timeline: what heard decided, and what then happened to each message (sent,
    delivered, suppressed, rerouted, deferred, failed), in time order."""
    rows: list[tuple[str, str]] = []
    for line in decisions:
        what = " ".join(part for part in (line.get("kind"), line.get("channel")) if part)
        rows.append(
            (
                line["at"],
                f"{line['at'][:19]}  {line['event_type']:<28} "
                f"{line['outcome']:<9} {what:<28} {line['reason']}",
            )
        )
    for outcome in outcomes:
        at = str(outcome.get("at") or "")
        what = " ".join(str(part) for part in (outcome.get("kind"), outcome.get("channel")) if part)
        # Which wording it was: the published template version it was rendered with.
        version = f" (templates {outcome['templates_version']})" if outcome.get("templates_version") else ""
        rows.append(
            (
                at,
                f"{at[:19]}  {'  delivery':<28} {outcome.get('status', ''):<9} "
                f"{what:<28} {outcome.get('reason') or ''}{version}",
            )
        )
    return [text for _, text in sorted(rows, key=lambda row: row[0])]


# ------------------------------------------------------------------ ingest
def cmd_ingest(args: argparse.Namespace) -> int:
    if args.action == "sample":
        from heard.streams.cli.ingest_try import sample_body

        sys.stdout.write(sample_body(args.source))
        return 0
    settings = _settings(args)
    if args.action == "replay":
        return replay_payloads(settings, args)
    if args.action == "post":
        from heard.streams.cli.ingest_try import post_signed

        return post_signed(settings, args.source, args.file, args.url)
    import logging.config
    import signal

    from heard.streams.base.http import check_free, raise_open_file_limit
    from heard.streams.base.logs import logging_config
    from heard.streams.connectors.service import check_secrets, serve

    check_secrets(settings)
    ingest = settings.connectors
    check_free(ingest.host, ingest.port, "config/connectors.yaml: port", "HEARD_INGEST_PORT")
    check_free(ingest.ops_host, ingest.ops_port, "config/connectors.yaml: ops_port", "HEARD_INGEST_OPS_PORT")
    raise_open_file_limit()
    logging.config.dictConfig(logging_config())
    from heard.streams.kafka.topics import ensure_topics

    async def run() -> None:
        await ensure_topics(settings.engine, settings.channels.retry.deferred_seconds)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(run())
    return 0


def replay_payloads(settings: Settings, args: argparse.Namespace) -> int:
    """Map stored payloads offline, with the same code as the service, and print the result."""
    from heard.streams.base.settings import SourceSettings
    from heard.streams.connectors import connector_for
    from heard.streams.connectors.base import Request, Unmappable
    from heard.streams.contract.records import event_to_json

    source = settings.connectors.sources.get(args.source) or SourceSettings()
    connector = connector_for(args.source, source)
    headers = dict(args.header)
    raw = Path(args.file).read_bytes()
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{args.file}: not UTF-8 (byte {exc.start}); webhook payloads are JSON in UTF-8"
        ) from exc
    try:
        bodies = [text] if isinstance(json.loads(text), dict) else text.splitlines()
    except ValueError:
        bodies = text.splitlines()  # JSON lines: one payload per line
    from heard.streams.connectors.service import Ingest, Publisher

    # Offline: mapping only, nothing is published (so no Kafka credentials are needed).
    ingest = Ingest(settings, Publisher(settings.engine.bootstrap_servers))
    failures = 0
    for number, body in enumerate((b for b in bodies if b.strip()), start=1):
        incoming = Request(headers, body.encode(), None)
        try:
            payload = json.loads(body)
            delivery = connector.delivery_id(incoming, payload)
            events = ingest.map(args.source, connector, source, incoming, payload, delivery)
        except (ValueError, Unmappable, InvalidEvent) as exc:
            failures += 1
            print(f"payload {number}: not mapped: {exc}", file=sys.stderr)
            continue
        if not events:
            print(f"payload {number}: ignored", file=sys.stderr)
        for event in events:
            print(event_to_json(event).decode())
    return 1 if failures else 0


def header_pair(text: str) -> tuple[str, str]:
    """`Name: value`, as a request header is written."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME:VALUE (e.g. X-GitHub-Event:issues)")
    return name.strip(), value.strip()


# ------------------------------------------------------------------ report
def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`7d`, `12h`, `30m` ago, or an ISO date/time (UTC when no offset is given)."""
    now = now or datetime.now(UTC)
    units = {"d": 86400, "h": 3600, "m": 60}
    if text and text[-1] in units and text[:-1].isdigit():
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: use 7d, 12h, 30m or an ISO date such as 2026-11-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_report(args: argparse.Namespace) -> int:
    from heard.streams.kafka.readback import read_topic
    from heard.streams.ops.report import build, parse_records, plot, render

    settings = _settings(args)
    if args.what == "feedback":
        return report_feedback(args, settings)
    if args.what == "transfers":
        if args.plot:
            print("heard report transfers: no chart; use --format csv", file=sys.stderr)
            return 2
        from heard.streams.ops import transfers_report

        raw = asyncio.run(read_topic(settings.engine, settings.engine.topic("promises")))
        tickets, teams = transfers_report.build(
            transfers_report.parse_transfers(value for _, value, _ in raw), args.since
        )
        print(transfers_report.render(transfers_report.rows(tickets, teams), args.format), end="")
        return 0
    records = asyncio.run(read_topic(settings.engine, settings.engine.topic("promises")))
    promises, acks = parse_records(value for _, value, _ in records)
    rows = build(promises, acks, args.since)
    print(render(rows, args.format), end="")
    return draw(args, lambda path: plot(rows, path))


def report_feedback(args: argparse.Namespace, settings: Settings) -> int:
    from heard.streams.kafka.readback import read_topic
    from heard.streams.ops import feedback_report

    records = asyncio.run(read_topic(settings.engine, settings.engine.topic("replies")))
    tickets = feedback_report.per_ticket(
        feedback_report.parse_feedback(value for _, value, _ in records), args.since
    )
    low = feedback_report.low_answers(
        feedback_report.parse_feedback(value for _, value, _ in records),
        args.since,
        settings.feedback.low_score_at_most,
    )
    if args.low:
        print(feedback_report.render_low(low, args.format), end="")
        return 0
    columns = feedback_report.signal_columns(tickets, settings.feedback.signals)
    rows = feedback_report.build(tickets)
    print(feedback_report.render(rows, columns, args.format), end="")
    if args.format == "table":
        # The low ones with their words, under the counts (csv and json: --low).
        print(f"\nlow answers ({len(low)}):\n" + feedback_report.render_low(low, "table"), end="")
    return draw(args, lambda path: feedback_report.plot(rows, columns, path))


def draw(args: argparse.Namespace, plot: Callable[[Path], None]) -> int:
    if args.plot:
        try:
            plot(Path(args.plot))
        except ModuleNotFoundError as exc:
            print(
                f"heard report: --plot needs the reports extra (pip install 'heard[reports]'): {exc}",
                file=sys.stderr,
            )
            return 2
        print(f"chart written to {args.plot}", file=sys.stderr)
    return 0


def _show_dead_letter(letters: list[Any], position: str | None, raw: bool) -> int:
    from heard.streams.ops.dead_letters import render_one

    if position is None:
        print(
            "heard: show needs the letter's PARTITION:OFFSET (as `heard dead-letters` lists it)",
            file=sys.stderr,
        )
        return 2
    found = [letter for letter in letters if letter.position == position]
    if not found:
        print(f"heard: no dead letter at {position} (with the filters given)", file=sys.stderr)
        return 1
    if raw:
        sys.stdout.buffer.write(found[0].value)
        sys.stdout.flush()
        return 0
    print(render_one(found[0]), end="")
    return 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    from heard.streams.kafka.readback import read_positioned
    from heard.streams.kafka.topics import topic_names
    from heard.streams.ops.dead_letters import (
        DeadLetter,
        Replay,
        plan_replay,
        publish,
        render_json,
        render_table,
        select,
    )

    settings = _settings(args)
    if args.action == "replay" and args.stage is None:
        print(
            "heard: replay needs --stage (lifecycle, delivery, redelivery or sms-status), "
            "so a whole topic is never replayed by accident",
            file=sys.stderr,
        )
        return 2
    topic = settings.engine.topic("dead_letters")
    records = asyncio.run(read_positioned(settings.engine, topic))
    letters = select(
        (DeadLetter.from_record(record) for record in records),
        stage=args.stage,
        since=args.since,
        key=args.key,
        reason=args.reason,
    )
    if args.action == "list":
        print(render_table(letters) if args.format == "table" else render_json(letters), end="")
        return 0
    if args.action == "show":
        return _show_dead_letter(letters, args.position, args.raw)
    names = topic_names(settings.engine)
    replays: list[Replay] = []
    skipped = 0
    for letter in letters:
        plan = plan_replay(letter, names, topic)
        if isinstance(plan, str):
            skipped += 1
            print(f"skipped {letter.position} {letter.key_text}: {plan}")
        else:
            replays.append(plan)
            verb = "would replay" if args.dry_run else "replaying"
            print(f"{verb} {letter.position} {letter.key_text} -> {plan.topic}")
    if replays and not args.dry_run:
        asyncio.run(publish(settings.engine, replays))
    done = "would be replayed" if args.dry_run else "replayed"
    print(f"{len(replays)} {done}, {skipped} skipped, of {len(letters)} selected")
    return 1 if skipped else 0


# ------------------------------------------------------------------ demo
def cmd_demo(args: argparse.Namespace) -> int:
    from heard.streams.cli.demo import run_demo

    code: int = run_demo(Path(args.events), Path(args.config or "config"), keep=args.keep)
    return code


def template_versions(args: argparse.Namespace) -> int:
    from heard.streams.cli.template_versions import (
        publish_command,
        rollback_command,
        versions_command,
        whatif_command,
    )

    settings = _settings(args)
    if args.action == "publish":
        return publish_command(settings, args.by)
    if args.action == "versions":
        return versions_command(settings)
    if args.action == "whatif":
        return whatif_command(settings, args.since, args.samples)
    if args.kind == "all":
        raise UsageError(
            "heard templates rollback VERSION: name the version (heard templates versions lists them)"
        )
    return rollback_command(settings, args.kind, args.by)


def cmd_templates(args: argparse.Namespace) -> int:
    from heard.streams.content.lint import lint_command, preview_command

    config = Path(args.config or os.environ.get("HEARD_CONFIG_DIR", "config"))
    if args.action in ("publish", "versions", "rollback", "whatif"):
        return template_versions(args)
    if args.action == "lint":
        code: int = lint_command(config, strict=args.strict)
    elif args.action == "serve":
        from heard.streams.studio.server import serve_command

        templates = Path(os.environ.get("HEARD_TEMPLATES_DIR", "templates"))
        code = serve_command(config, templates, args.host, args.port, args.test_email, args.test_phone)
    else:
        code = preview_command(config, args.kind, Path(args.out))
    return code


def cmd_init(args: argparse.Namespace) -> int:
    from heard.streams.cli.init_dir import write_defaults

    folder = Path(args.folder)
    written = write_defaults(folder, force=args.force)
    print(
        f"wrote {written['config']} config files to {folder / 'config'} and "
        f"{written['templates']} templates to {folder / 'templates'}\n"
        f"next: cd {folder} && heard dev up && heard worker   (or set HEARD_CONFIG_DIR="
        f"{folder / 'config'} and HEARD_TEMPLATES_DIR={folder / 'templates'})"
    )
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from heard.streams.ops.erasure import contacts_of, request_forget, tickets_of

    settings = _settings(args)
    region = settings.connectors.default_region
    tickets = asyncio.run(tickets_of(settings.engine, args.customer, region))
    contacts = asyncio.run(contacts_of(settings.engine, args.customer, region))
    if not tickets and not contacts:
        print("no ticket heard keeps holds this customer")
        return 0
    if tickets:
        print(f"{len(tickets)} ticket(s) hold this customer: {', '.join(tickets)}")
    if contacts:
        print(
            f"{len(contacts)} other ticket(s) list them as a contact: "
            f"{', '.join(ticket for ticket, _ in contacts)} (they are removed from those; "
            "the tickets stay their customers')"
        )
    if args.dry_run:
        print("dry run: nothing erased")
        return 0
    asyncio.run(request_forget(settings.engine, tickets, contacts))
    print(
        "erasure requested: each worker deletes its tickets' state and timers (tombstones in "
        "the changelogs). Kept: consent records (a STOP stays a STOP); decisions, outcomes "
        "and dead letters age out with their topics' retention."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heard",
        description=("heard: acknowledge quickly, show progress, keep every promise, close the loop."),
    )
    parser.add_argument("--config", help="config folder (default: $HEARD_CONFIG_DIR or config)")
    parser.add_argument("--version", action="version", version=f"heard {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser("worker", help="run the stream processors")
    worker.add_argument("--loglevel", default="info")
    worker.set_defaults(func=cmd_worker)

    dev = sub.add_parser("dev", help="start/stop the local stack: Kafka, mail and SMS catchers")
    dev.add_argument("action", choices=["up", "down", "status"])
    dev.set_defaults(func=cmd_dev)

    events = sub.add_parser("events", help="validate or publish canonical events (JSON lines)")
    events.add_argument("action", choices=["validate", "send"])
    events.add_argument("file")
    events.add_argument(
        "--rebase", action="store_true", help="shift the story's times so its last event happens now"
    )
    events.set_defaults(func=cmd_events)

    explain = sub.add_parser("explain", help="print a ticket's decisions in order")
    explain.add_argument("ticket")
    explain.set_defaults(func=cmd_explain)

    add_ingest_commands(sub)

    init = sub.add_parser(
        "init", help="write the shipped config/ and templates/ into a folder (for an installed heard)"
    )
    init.add_argument("folder", help="where config/ and templates/ go (created if missing)")
    init.add_argument("--force", action="store_true", help="overwrite files already there")
    init.set_defaults(func=cmd_init)

    forget = sub.add_parser("forget", help="erase a customer's tickets (an erasure request)")
    forget.add_argument("--customer", required=True, help="their email address, phone or id")
    forget.add_argument("--dry-run", action="store_true", help="list the tickets, erase nothing")
    forget.set_defaults(func=cmd_forget)

    add_ops_commands(sub)
    add_writer_commands(sub)
    return parser


def add_ingest_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The webhook receiver, and the tools for wiring a help desk to it."""
    ingest = sub.add_parser(
        "ingest", help="serve help-desk webhooks (default), or map stored payloads with `ingest replay`"
    )
    ingest_actions = ingest.add_subparsers(dest="action")
    ingest_actions.add_parser("serve", help="serve the webhook routes")
    replay = ingest_actions.add_parser("replay", help="map stored payloads and print the events")
    replay.add_argument("file", help="a JSON payload, or JSON lines of payloads")
    sources = ["zendesk", "freshdesk", "jira", "intercom", "front", "github"]
    replay.add_argument("--source", required=True, choices=sources)
    replay.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        type=header_pair,
        help="a request header the mapping reads (e.g. X-GitHub-Event:issues)",
    )
    sample = ingest_actions.add_parser("sample", help="print a realistic webhook body of a help desk")
    sample.add_argument("--source", required=True, choices=sources)
    post = ingest_actions.add_parser(
        "post", help="sign a body as the help desk does and post it to a running ingest"
    )
    post.add_argument("--source", required=True, choices=sources)
    post.add_argument("file", nargs="?", help="the body (default: the source's sample)")
    post.add_argument("--url", help="default: http://HOST:PORT/webhooks/SOURCE from connectors.yaml")
    ingest.set_defaults(func=cmd_ingest)


def add_ops_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Reading back what the workers did: reports and dead letters."""
    report = sub.add_parser(
        "report", help="promise keeping, customers' feedback, or transfers, per agent, team and ticket"
    )
    report.add_argument("what", choices=["promises", "feedback", "transfers"])
    report.add_argument(
        "--since",
        type=parse_since,
        default="30d",
        help="promises made (or feedback given) since: 7d, 12h, 30m or an ISO date (default 30d)",
    )
    report.add_argument("--format", choices=["table", "csv", "json"], default="table")
    report.add_argument("--plot", metavar="FILE.png", help="also draw a chart")
    report.add_argument(
        "--low",
        action="store_true",
        help="feedback: only the low answers (a low score or a negative signal), with their words",
    )
    report.set_defaults(func=cmd_report)

    dead = sub.add_parser(
        "dead-letters", help="list dead letters with their reasons, or replay them after a fix"
    )
    dead.add_argument("action", nargs="?", choices=["list", "show", "replay"], default="list")
    dead.add_argument("position", nargs="?", help="show: the letter's PARTITION:OFFSET, as list prints it")
    dead.add_argument("--raw", action="store_true", help="show: the body's bytes exactly, nothing else")
    dead.add_argument(
        "--stage", choices=["lifecycle", "delivery", "redelivery", "sms-status", "ingest", "sms-replies"]
    )
    dead.add_argument("--since", type=parse_since, help="7d, 12h, 30m or an ISO date")
    dead.add_argument("--key", help="only this record key (the ticket id)")
    dead.add_argument("--reason", help="only reasons containing this text")
    dead.add_argument("--format", choices=["table", "json"], default="table")
    dead.add_argument("--dry-run", action="store_true", help="print what would be replayed")
    dead.set_defaults(func=cmd_dead_letters)


def add_writer_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The demo, and the content writers' tools."""
    demo = sub.add_parser("demo", help="run the worker on sample events and show what was sent")
    demo.add_argument("--events", default="examples/events.jsonl")
    demo.add_argument("--keep", action="store_true", help="leave the local stack running")
    demo.set_defaults(func=cmd_demo)

    templates = sub.add_parser(
        "templates",
        help="lint or preview the templates, open the writers' studio (serve), or publish a version, "
        "list them, roll back",
    )
    templates.add_argument(
        "action", choices=["lint", "preview", "serve", "publish", "versions", "rollback", "whatif"]
    )
    templates.add_argument("--since", default="7d", help="whatif: how far back (7d, 12h, 90m)")
    templates.add_argument("--samples", type=int, default=1, help="whatif: changed messages shown per kind")
    templates.add_argument("kind", nargs="?", default="all", help="preview: a kind; rollback: the version")
    templates.add_argument(
        "--by", default=getpass.getuser(), help="publish, rollback: who did it (kept with the version)"
    )
    templates.add_argument("--out", default="build/preview")
    templates.add_argument("--strict", action="store_true", help="treat warnings as errors")
    templates.add_argument("--host", default="127.0.0.1", help="serve: address to listen on")
    templates.add_argument("--port", type=int, default=8095, help="serve: port (0: any free)")
    templates.add_argument(
        "--test-email", default="writer@example.com", help="serve: where 'Send me a test' emails go"
    )
    templates.add_argument(
        "--test-phone", default="+15005550006", help="serve: where 'Send me a test' texts go"
    )
    templates.set_defaults(func=cmd_templates)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # What heard writes holds personal data (tables, captured messages, the local Kafka's
    # logs): the user's alone, and so are the files of the processes it starts.
    os.umask(0o077)
    if args.command not in LOGGING_COMMANDS:
        # A one-shot command says what went wrong in one line (below), not in the Kafka
        # client's own reconnect messages.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        code: int = args.func(args)
    except (ConfigError, StackError, UsageError) as exc:
        print(f"heard: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:
            raise
        print(f"heard: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except Exception as exc:  # only to say a Kafka failure in one line; anything else re-raised
        said = kafka_trouble(exc)
        if said is None:
            raise
        print(f"heard: {said}", file=sys.stderr)
        return 3
    return code


def kafka_trouble(exc: BaseException) -> str | None:
    """One line for a Kafka error that reached the command line (broker down or failing
    over, a read that could not finish), or None for anything else."""
    from aiokafka.errors import KafkaError

    from heard.streams.kafka.readback import ReadIncomplete

    if isinstance(exc, ReadIncomplete):
        return f"Kafka: {exc}"
    if isinstance(exc, KafkaError):
        detail = str(exc).removeprefix(f"{type(exc).__name__}: ")
        detail = "" if detail == type(exc).__name__ else detail
        return (
            f"Kafka did not answer ({type(exc).__name__}{': ' + detail if detail else ''});"
            " is it up at KAFKA_BOOTSTRAP_SERVERS? Try again once it is"
        )
    return None
