"""The `launchwatch` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from launchwatch.monitor import eventloop
from launchwatch.monitor.checks import CheckDefinition
from launchwatch.monitor.configfile import ConfigError, LoadedConfig, load_config
from launchwatch.monitor.logs import Redactor, setup_logging
from launchwatch.probes.result import ProbeResult, Status

log = logging.getLogger("launchwatch.cli")

EXIT_OK = 0
EXIT_FAILING = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    # The logging options work before or after the command name; SUPPRESS
    # keeps a subcommand from overwriting a value given before it.
    logging_options = argparse.ArgumentParser(add_help=False)
    logging_options.add_argument("--log-format", choices=["text", "json"], default=argparse.SUPPRESS, help="log line format on stderr (default: text)")
    logging_options.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default=argparse.SUPPRESS, help="minimum level logged (default: INFO)"
    )
    parser = argparse.ArgumentParser(
        prog="launchwatch", description="Keep checking that a web app is fit for production traffic.", parents=[logging_options]
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_subparser_class(logging_options))

    run = commands.add_parser("run", help="run the daemon: checks on their schedules, status page, metrics")
    run.add_argument("-c", "--config", required=True, help="path of the YAML config file")

    check = commands.add_parser("check", help="run every check once now and print a scorecard; exit 1 if any fails")
    check.add_argument("-c", "--config", required=True, help="path of the YAML config file")

    validate = commands.add_parser("validate", help="validate a config file and print every problem found")
    validate.add_argument("-c", "--config", required=True, help="path of the YAML config file")

    notify_test = commands.add_parser("notify-test", help="send a test message to every channel, or to the one named")
    notify_test.add_argument("-c", "--config", required=True, help="path of the YAML config file")
    notify_test.add_argument("channel", nargs="?", help="name of the channel to test (default: all)")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply database migrations up to the latest schema")
    upgrade.add_argument("-c", "--config", required=True, help="path of the YAML config file naming the storage")

    demo = commands.add_parser("demo", help="start a sample app on loopback and monitor it with the bundled demo config")
    demo.add_argument("--port", type=int, default=8080, help="port of the demo status page on 127.0.0.1 (default: 8080; 0 picks a free one)")
    demo.add_argument("--state-dir", default=None, help="directory for the demo database (default: a new temporary directory)")
    return parser


def _subparser_class(logging_options: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    class SubcommandParser(argparse.ArgumentParser):
        def __init__(self, **kwargs: object) -> None:
            kwargs.setdefault("parents", [logging_options])
            super().__init__(**kwargs)  # type: ignore[arg-type]

    return SubcommandParser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("launchwatch")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    redact = setup_logging(getattr(args, "log_format", "text"), getattr(args, "log_level", "INFO"))

    if args.command == "validate":
        return _validate(args.config, sys.stdout)
    if args.command == "demo":
        from launchwatch.demo.run import run_demo

        return run_demo(port=args.port, state_dir=args.state_dir, redact=redact)

    loaded = _load_or_report(args.config, sys.stderr)
    if loaded is None:
        return EXIT_USAGE
    redact.add(loaded.secrets)

    if args.command == "run":
        return run_until_signalled(loaded, redact)
    if args.command == "check":
        return eventloop.run(_check_once(loaded, sys.stdout, redact))
    if args.command == "db":
        return _db_upgrade(loaded)
    if args.command == "notify-test":
        return _notify_test(loaded, args.channel, redact, sys.stdout)
    return EXIT_USAGE


def _load_or_report(path: str, out: TextIO) -> LoadedConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"launchwatch: invalid config, not starting ({_count(len(exc.problems), 'problem')}):", file=out)
        for problem in exc.problems:
            print(f"  {problem}", file=out)
        return None


def _validate(path: str, out: TextIO) -> int:
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        print(f"{_count(len(exc.problems), 'problem')} found in {path}", file=out)
        return EXIT_USAGE
    sites = len(loaded.config.sites)
    print(f"{path}: valid, {_count(sites, 'site')} and {_count(len(loaded.checks), 'check')}", file=out)
    return EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def run_until_signalled(loaded: LoadedConfig, redact: Redactor) -> int:
    from launchwatch.monitor.daemon import DaemonError, run_daemon
    from launchwatch.monitor.storage import StorageError

    async def main_task() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_daemon(loaded, stop, redact=redact)

    try:
        eventloop.run(main_task())
    except (DaemonError, StorageError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    return EXIT_OK


async def _check_once(loaded: LoadedConfig, out: TextIO, redact: Redactor) -> int:
    from launchwatch.monitor.daemon import build_runner

    runner = build_runner(loaded, metrics=None, writer=None)
    checks = [check for check in loaded.checks if check.enabled]
    results = await asyncio.gather(*(runner.run(check) for check in checks))
    print_scorecard(list(zip(checks, results)), out, redact)
    failing = any(result.status in (Status.FAIL, Status.ERROR) for result in results)
    return EXIT_FAILING if failing else EXIT_OK


def print_scorecard(rows: list[tuple[CheckDefinition, ProbeResult]], out: TextIO, redact: Redactor | None = None) -> None:
    table = [("CHECK", "STATUS", "TIME", "TOP FINDING")]
    for check, result in rows:
        top = result.top_finding()
        message = top.message if top else ""
        table.append((check.id, str(result.status).upper(), f"{result.duration_s * 1000:.0f} ms", redact(message) if redact else message))
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip(), file=out)
    counts = {status: sum(1 for _, r in rows if r.status == status) for status in Status}
    summary = ", ".join(f"{counts[status]} {status}" for status in Status)
    print(f"\n{len(rows)} checks: {summary}", file=out)


def _notify_test(loaded: LoadedConfig, channel_name: str | None, redact: Redactor, out: TextIO) -> int:
    from datetime import UTC, datetime

    from launchwatch.monitor.alerting.channels import deliver
    from launchwatch.monitor.alerting.events import TEST, NotificationEvent
    from launchwatch.monitor.alerting.messages import render

    channels = loaded.config.channels
    if channel_name is not None:
        channels = [channel for channel in channels if channel.name == channel_name]
        if not channels:
            known = ", ".join(channel.name for channel in loaded.config.channels) or "none"
            print(f"launchwatch: channel {channel_name!r} is not defined in the config (defined: {known})", file=sys.stderr)
            return EXIT_USAGE
    if not channels:
        print("launchwatch: the config defines no channels; add some under channels", file=sys.stderr)
        return EXIT_USAGE

    failed = 0
    for channel in channels:
        now = datetime.now(UTC)
        event = NotificationEvent(
            kind=TEST, check_id="launchwatch/notify-test", site="launchwatch", check_name=f"test of channel {channel.name}",
            probe_kind="test", severity="info", status="pass", reason="ok", opened_at=None, at=now,
        )
        message = render(event, channel.url, redact)
        delivery = deliver(channel.url, message.title, message.body, message.body_format, 30.0, notify_type=message.notify_type)
        if delivery.ok:
            print(f"{channel.name}: sent in {delivery.duration_s * 1000:.0f} ms", file=out)
        else:
            failed += 1
            print(f"{channel.name}: failed: {redact(delivery.error or 'unknown error')}", file=out)
    return EXIT_FAILING if failed else EXIT_OK


def _db_upgrade(loaded: LoadedConfig) -> int:
    from launchwatch.monitor.daemon import open_storage
    from launchwatch.monitor.storage import StorageError

    try:
        storage = open_storage(loaded)
    except StorageError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    storage.close()
    log.info("database schema is up to date")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
