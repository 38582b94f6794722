"""Benchmark the daemon pipeline: many http checks against one loopback target.

Each scenario runs in a fresh worker process, so its CPU time and peak RSS
are its own. The worker runs ``run_daemon`` on a config loaded from a YAML
file, with SQLite storage in a temporary directory and the web app
disabled, and wraps LaunchwatchMetrics.observe_lag and Runner.run to record
lag samples and run starts. The targets run in a third process, so their
CPU is not counted. All traffic stays on 127.0.0.1: checks reach the targets
through ``.test`` names in the site's ``resolve`` map, and DNS points at
127.0.0.1:1.

    python bench/bench_daemon.py                      # both scenarios, about 3 minutes
    python bench/bench_daemon.py --hung-share 0.1     # only the hung-target scenario
    python bench/bench_daemon.py --checks 100 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

# Import launchwatch from the tree this script belongs to, not from whichever
# copy happens to be installed in site-packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import sqlalchemy as sa
import yaml
from aiohttp import web

from launchwatch.monitor import eventloop
from launchwatch.monitor.checks import CheckDefinition
from launchwatch.monitor.configfile import LoadedConfig, load_config
from launchwatch.monitor.daemon import build_runner, run_daemon
from launchwatch.monitor.logs import setup_logging
from launchwatch.monitor.metrics import LaunchwatchMetrics
from launchwatch.monitor.runner import Runner
from launchwatch.monitor.tables import results_table
from launchwatch.probes.registry import PROBE_KINDS
from launchwatch.probes.result import ProbeResult

HOST = "127.0.0.1"
# Nothing listens on port 1, so a lookup that escapes the resolve map fails
# on loopback instead of reaching a real nameserver.
DNS_NAMESERVER = "127.0.0.1:1"
TARGET_PATH = "/health"
# Largest accepted deviation of an achieved interval, as a fraction of the configured one.
INTERVAL_TOLERANCE = 0.10
# Goals the figures are compared with.
GOAL_CPU_MS_PER_CHECK = 1.5
GOAL_PEAK_RSS_MIB = 250.0
GOAL_LAG_P99_MS = 500.0
# Extra time a worker may take beyond its run (start-up, reference
# requests, draining) before the parent stops it and reports a failure.
WORKER_SLACK_S = 120.0


@dataclass(frozen=True)
class ScenarioParams:
    checks: int
    interval_s: float
    timeout_s: float
    jitter_s: float
    duration_s: float
    hung_share: float
    reference_requests: int
    target_port: int
    hung_port: int
    profile_path: str | None
    log_path: str | None


# --- targets ------------------------------------------------------------------


def serve_targets(conn: multiprocessing.connection.Connection, lifetime_s: float) -> None:
    """Serve the healthy and the hung target until terminated, the parent exits or ``lifetime_s`` passes."""
    asyncio.run(_serve_targets(conn, lifetime_s))


async def _serve_targets(conn: multiprocessing.connection.Connection, lifetime_s: float) -> None:
    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def hold_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Accept and read, never respond. The connection ends when the client gives up.
        while await reader.read(65536):
            pass
        writer.close()

    app = web.Application()
    app.router.add_get(TARGET_PATH, health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0, backlog=1024).start()
    hung_server = await asyncio.start_server(hold_open, HOST, 0, backlog=1024)
    conn.send((runner.addresses[0][1], hung_server.sockets[0].getsockname()[1]))

    parent = os.getppid()
    deadline = time.monotonic() + lifetime_s
    while time.monotonic() < deadline and os.getppid() == parent:
        await asyncio.sleep(1.0)
    hung_server.close()
    await runner.cleanup()


def start_targets(lifetime_s: float) -> tuple[multiprocessing.Process, int, int]:
    """Start the target process; return it with the healthy and the hung port."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=serve_targets, args=(send, lifetime_s), name="bench-targets")
    process.start()
    if not receive.poll(30.0):
        stop_process(process)
        raise RuntimeError("the target process did not send its ports within 30 s; run it again and read the traceback it printed")
    target_port, hung_port = receive.recv()
    return process, target_port, hung_port


def stop_process(process: multiprocessing.Process) -> None:
    process.terminate()
    process.join(10.0)
    if process.is_alive():
        process.kill()
        process.join(5.0)


# --- config -------------------------------------------------------------------


def is_hung(index: int, share: float) -> bool:
    """Spread ``share`` of the checks evenly over the index range."""
    return math.floor((index + 1) * share) > math.floor(index * share)


def write_config(directory: Path, params: ScenarioParams) -> Path:
    healthy = []
    hung = []
    for index in range(params.checks):
        check = {"id": f"c{index:05d}", "kind": "http", "options": {"path": TARGET_PATH}}
        (hung if is_hung(index, params.hung_share) else healthy).append(check)
    sites = [
        {"name": "bench", "base_url": f"http://target.test:{params.target_port}", "resolve": {"target.test": HOST}, "checks": healthy},
    ]
    if hung:
        sites.append({"name": "hung", "base_url": f"http://hung.test:{params.hung_port}", "resolve": {"hung.test": HOST}, "checks": hung})
    document = {
        "state_dir": str(directory / "state"),
        "web": {"enabled": False},
        "dns": {"nameservers": [DNS_NAMESERVER], "timeout": params.timeout_s},
        "defaults": {"interval": params.interval_s, "timeout": params.timeout_s, "jitter": params.jitter_s},
        "sites": sites,
    }
    path = directory / "launchwatch.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


# --- recording ----------------------------------------------------------------


class Recorder:
    """Lag samples, run starts and run completions, collected by wrapping two daemon methods.

    The wrappers are installed on the classes, which is safe because each
    scenario runs alone in its worker process.
    """

    def __init__(self) -> None:
        # (monotonic time, lag in seconds)
        self.lag_samples: list[tuple[float, float]] = []
        self.starts: dict[str, list[float]] = defaultdict(list)
        # (monotonic completion time, check id, status)
        self.completions: list[tuple[float, str, str]] = []

    def install(self) -> None:
        observe_lag = LaunchwatchMetrics.observe_lag
        run = Runner.run

        def recording_observe_lag(metrics: LaunchwatchMetrics, seconds: float) -> None:
            self.lag_samples.append((time.monotonic(), seconds))
            observe_lag(metrics, seconds)

        async def recording_run(runner: Runner, check: CheckDefinition) -> ProbeResult:
            self.starts[check.id].append(time.monotonic())
            result = await run(runner, check)
            self.completions.append((time.monotonic(), check.id, str(result.status)))
            return result

        LaunchwatchMetrics.observe_lag = recording_observe_lag  # type: ignore[method-assign]
        Runner.run = recording_run  # type: ignore[method-assign]


# --- measurement --------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile, or NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def peak_rss_mib() -> float:
    """Return the process's peak RSS (VmHWM), falling back to ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure_reference(url: str, requests: int, *, session_per_request: bool) -> float:
    """Return CPU milliseconds per GET of ``url``, each on a fresh connection."""
    cpu_start = time.process_time()
    if session_per_request:
        for _ in range(requests):
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
                async with session.get(url) as response:
                    await response.read()
    else:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            for _ in range(requests):
                async with session.get(url) as response:
                    await response.read()
    return (time.process_time() - cpu_start) * 1000 / requests


async def measure_probe(check: CheckDefinition, runner: Runner, requests: int) -> float:
    """Return CPU milliseconds per run of the check's probe alone, run one after another."""
    context = runner.context_for(check)
    probe = PROBE_KINDS[check.kind].run
    cpu_start = time.process_time()
    for _ in range(requests):
        await probe(check.options, context)
    return (time.process_time() - cpu_start) * 1000 / requests


def interval_stats(starts: dict[str, list[float]], check_ids: set[str], window: tuple[float, float], interval_s: float) -> dict[str, float]:
    """Summarise the gaps between consecutive starts whose later start falls in ``window``."""
    gaps = []
    for check_id in check_ids:
        times = starts.get(check_id, [])
        gaps.extend(later - earlier for earlier, later in zip(times, times[1:]) if window[0] <= later < window[1])
    within = sum(1 for gap in gaps if abs(gap - interval_s) <= INTERVAL_TOLERANCE * interval_s)
    return {
        "count": len(gaps),
        "p50_s": percentile(gaps, 0.50),
        "p99_s": percentile(gaps, 0.99),
        "max_s": max(gaps, default=math.nan),
        "within_share": within / len(gaps) if gaps else math.nan,
    }


def count_log_lines(path: Path) -> dict[str, int]:
    """Count the daemon's log lines by level and logger name."""
    counts: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split(" ", 3)
        if len(fields) >= 3 and fields[0][:1].isdigit():
            counts[f"{fields[1]} {fields[2]}"] += 1
    return dict(counts)


def count_stored_results(loaded: LoadedConfig) -> int:
    engine = sa.create_engine(loaded.config.storage_url())
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(results_table)).scalar_one())
    finally:
        engine.dispose()


# --- one scenario -------------------------------------------------------------


@dataclass
class Window:
    """Process and event-loop thread CPU use between the end of the warm-up and the stop."""

    start: float
    end: float
    completed: int
    user_s: float
    system_s: float
    loop_thread_s: float


async def run_daemon_measured(loaded: LoadedConfig, recorder: Recorder, params: ScenarioParams) -> Window:
    """Run the daemon, wait one interval, then measure until ``params.duration_s`` has passed and stop it."""
    profiler = None
    if params.profile_path:
        # Thread CPU time, not wall time: on a busy machine wall time also
        # counts the moments this thread waited for a core.
        profiler = cProfile.Profile(time.thread_time)

    stop = asyncio.Event()
    ready = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(loaded, stop, on_ready=lambda url: ready.set()))
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait({daemon, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
    if daemon.done():
        ready_wait.cancel()
        await daemon
        raise RuntimeError("the daemon stopped before it was ready; read its log with --log-dir")
    started = time.monotonic()
    try:
        await asyncio.sleep(params.interval_s)

        window_start = time.monotonic()
        usage_start = resource.getrusage(resource.RUSAGE_SELF)
        loop_thread_start = time.thread_time()
        completions_start = len(recorder.completions)
        if profiler is not None:
            profiler.enable()

        await asyncio.sleep(max(0.0, started + params.duration_s - time.monotonic()))

        window_end = time.monotonic()
        usage_end = resource.getrusage(resource.RUSAGE_SELF)
        loop_thread_end = time.thread_time()
        completions_end = len(recorder.completions)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(params.profile_path)
    finally:
        # run_daemon drains the runs in flight and the pending writes.
        stop.set()
        await daemon

    return Window(
        start=window_start,
        end=window_end,
        completed=completions_end - completions_start,
        user_s=usage_end.ru_utime - usage_start.ru_utime,
        system_s=usage_end.ru_stime - usage_start.ru_stime,
        loop_thread_s=loop_thread_end - loop_thread_start,
    )


async def run_scenario(params: ScenarioParams, directory: Path) -> dict[str, Any]:
    """Measure the references, then run the daemon for ``params.duration_s``; return the figures."""
    url = f"http://{HOST}:{params.target_port}{TARGET_PATH}"
    references = {
        "reference_shared_session_ms": await measure_reference(url, params.reference_requests, session_per_request=False),
        "reference_session_per_request_ms": await measure_reference(url, params.reference_requests, session_per_request=True),
    }

    log_path = Path(params.log_path) if params.log_path else directory / "daemon.log"
    with log_path.open("w", encoding="utf-8") as log_stream:
        setup_logging("text", "INFO", stream=log_stream)
        loaded = load_config(write_config(directory, params))
        hung_ids = {check.id for check in loaded.checks if check.site == "hung"}
        healthy_ids = {check.id for check in loaded.checks} - hung_ids
        healthy_check = next(check for check in loaded.checks if check.id in healthy_ids)
        references["reference_probe_ms"] = await measure_probe(healthy_check, build_runner(loaded, None, None), params.reference_requests)

        recorder = Recorder()
        recorder.install()
        rss_before_start = peak_rss_mib()
        try:
            window = await run_daemon_measured(loaded, recorder, params)
        finally:
            logging.getLogger().handlers.clear()

    bounds = (window.start, window.end)
    statuses = Counter(status for at, _, status in recorder.completions if bounds[0] <= at < bounds[1])
    lags_ms = [seconds * 1000 for at, seconds in recorder.lag_samples if bounds[0] <= at < bounds[1]]
    cpu_s = window.user_s + window.system_s
    return {
        "checks": params.checks,
        "hung_checks": len(hung_ids),
        "window_s": window.end - window.start,
        "completed": window.completed,
        "statuses": dict(statuses),
        "cpu_s": cpu_s,
        "cpu_ms_per_check": cpu_s * 1000 / window.completed if window.completed else math.nan,
        "cpu_share_of_core": cpu_s / (window.end - window.start),
        # The event-loop thread runs the probes, the scheduler and the metrics.
        # The rest is mostly SQLite writes and state updates on asyncio.to_thread workers.
        "loop_thread_cpu_share": window.loop_thread_s / cpu_s if cpu_s else math.nan,
        # NOTE: on loopback the kernel can process the target's side of a TCP
        # exchange inside this process's system calls, so system time
        # overstates what a remote target would cost.
        "system_share": window.system_s / cpu_s if cpu_s else math.nan,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_start_mib": rss_before_start,
        "lag_count": len(lags_ms),
        "lag_p50_ms": percentile(lags_ms, 0.50),
        "lag_p99_ms": percentile(lags_ms, 0.99),
        "lag_max_ms": max(lags_ms, default=math.nan),
        "interval_healthy": interval_stats(recorder.starts, healthy_ids, bounds, params.interval_s),
        "interval_hung": interval_stats(recorder.starts, hung_ids, bounds, params.interval_s) if hung_ids else None,
        "runs_total": len(recorder.completions),
        "stored_results": count_stored_results(loaded),
        "log_lines": count_log_lines(log_path),
        **references,
    }


def scenario_worker(params: ScenarioParams, conn: multiprocessing.connection.Connection) -> None:
    """Run one scenario in this process and send back its figures or the error."""
    run_and_report(run_scenario, params, conn, prefix="launchwatch-bench-")


def run_and_report(
    scenario: Callable[[Any, Path], Awaitable[dict[str, Any]]],
    params: Any,
    conn: multiprocessing.connection.Connection,
    prefix: str,
) -> None:
    """Run ``scenario`` on the daemon's event loop in a temporary directory and send its figures or the error."""
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as directory:
            bound_s = params.duration_s + WORKER_SLACK_S
            figures = eventloop.run(asyncio.wait_for(scenario(params, Path(directory)), bound_s))
        conn.send({"ok": True, "figures": figures})
    except BaseException:
        conn.send({"ok": False, "error": traceback.format_exc()})


def run_in_worker(args: argparse.Namespace, hung_share: float) -> dict[str, Any]:
    """Start the targets and one worker; return the worker's figures."""
    lifetime_s = args.duration + 2 * WORKER_SLACK_S
    targets, target_port, hung_port = start_targets(lifetime_s)
    try:
        params = ScenarioParams(
            checks=args.checks,
            interval_s=args.interval,
            timeout_s=args.timeout,
            jitter_s=args.jitter,
            duration_s=args.duration,
            hung_share=hung_share,
            reference_requests=args.reference_requests,
            target_port=target_port,
            hung_port=hung_port,
            profile_path=f"{args.profile}.hung{hung_share:g}" if args.profile else None,
            log_path=str(Path(args.log_dir) / f"daemon-hung{hung_share:g}.log") if args.log_dir else None,
        )
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        worker = context.Process(target=scenario_worker, args=(params, send), name="bench-daemon")
        worker.start()
        try:
            if not receive.poll(args.duration + WORKER_SLACK_S + 30.0):
                raise RuntimeError(f"the scenario with hung share {hung_share:g} timed out and was stopped; run it again with --log-dir to read the daemon log")
            message = receive.recv()
        finally:
            worker.join(30.0)
            if worker.is_alive():
                stop_process(worker)
    finally:
        stop_process(targets)
    if not message["ok"]:
        raise RuntimeError(f"the scenario with hung share {hung_share:g} failed:\n{message['error']}")
    return message["figures"]


# --- report -------------------------------------------------------------------


def machine_info(argv: list[str]) -> dict[str, str]:
    model = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "memory": memory,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "aiohttp": aiohttp.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "command": shlex.join(["python", *argv]),
    }


def mark(value: float, limit: float) -> str:
    return "met" if value < limit else "MISSED"


def mark_all(share: float) -> str:
    return "met: all" if share == 1.0 else "MISSED: not all"


def figure_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    healthy = figures["interval_healthy"]
    rows = [
        ("checks (hung)", f"{figures['checks']} ({figures['hung_checks']})"),
        ("steady window", f"{figures['window_s']:.1f} s"),
        ("completed checks in window", f"{figures['completed']} ({', '.join(f'{k} {v}' for k, v in sorted(figures['statuses'].items()))})"),
        ("CPU per completed check", f"{figures['cpu_ms_per_check']:.3f} ms ({mark(figures['cpu_ms_per_check'], GOAL_CPU_MS_PER_CHECK)} < {GOAL_CPU_MS_PER_CHECK} ms)"),
        ("CPU use in window", f"{figures['cpu_share_of_core'] * 100:.1f} % of one core, {figures['loop_thread_cpu_share'] * 100:.0f} % of it on the event-loop thread, {figures['system_share'] * 100:.0f} % system time"),
        ("peak RSS (VmHWM)", f"{figures['peak_rss_mib']:.1f} MiB ({mark(figures['peak_rss_mib'], GOAL_PEAK_RSS_MIB)} < {GOAL_PEAK_RSS_MIB:.0f} MiB); {figures['rss_before_start_mib']:.1f} MiB before the scheduler started"),
        ("scheduler lag p50 / p99 / max", f"{figures['lag_p50_ms']:.1f} / {figures['lag_p99_ms']:.1f} / {figures['lag_max_ms']:.1f} ms ({mark(figures['lag_p99_ms'], GOAL_LAG_P99_MS)} p99 < {GOAL_LAG_P99_MS:.0f} ms; {figures['lag_count']} samples)"),
        ("interval p50 / p99, healthy checks", f"{healthy['p50_s']:.3f} / {healthy['p99_s']:.3f} s (max {healthy['max_s']:.3f} s)"),
        ("intervals within 10 %, healthy checks", f"{healthy['within_share'] * 100:.2f} % of {healthy['count']} ({mark_all(healthy['within_share'])})"),
    ]
    hung = figures["interval_hung"]
    if hung:
        rows.append(("interval p50 / p99, hung checks", f"{hung['p50_s']:.3f} / {hung['p99_s']:.3f} s (max {hung['max_s']:.3f} s)"))
        rows.append(("intervals within 10 %, hung checks", f"{hung['within_share'] * 100:.2f} % of {hung['count']}"))
    rows += [
        ("runs total / results stored", f"{figures['runs_total']} / {figures['stored_results']}"),
        ("daemon log lines", ", ".join(f"{name}: {count}" for name, count in sorted(figures["log_lines"].items())) or "none"),
        ("reference: aiohttp GET, shared session", f"{figures['reference_shared_session_ms']:.3f} ms CPU per request"),
        ("reference: aiohttp GET, session per request", f"{figures['reference_session_per_request_ms']:.3f} ms CPU per request"),
        ("reference: http probe alone, one after another", f"{figures['reference_probe_ms']:.3f} ms CPU per run"),
    ]
    return rows


def print_report(machine: dict[str, str], results: list[tuple[float, dict[str, Any]]]) -> None:
    print()
    for key, value in machine.items():
        print(f"{key:>14}: {value}")
    for share, figures in results:
        print(f"\nscenario: hung share {share:g}")
        for name, value in figure_rows(figures):
            print(f"  {name:<45} {value}")

    print("\n--- Markdown ---\n")
    print(" | ".join(f"{key} {value}" for key, value in machine.items() if key != "command"))
    print(f"\nCommand: `{machine['command']}`\n")
    for share, figures in results:
        print(f"**Hung share {share:g}**\n")
        print("| figure | value |")
        print("| --- | --- |")
        for name, value in figure_rows(figures):
            print(f"| {name} | {value} |")
        print()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the launchwatch daemon with http checks against a loopback target.")
    parser.add_argument("--checks", type=int, default=1000, help="number of http checks (default: 1000)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds each scenario runs, including a warm-up of one interval (default: 60)")
    parser.add_argument("--interval", type=float, default=10.0, help="check interval in seconds (default: 10)")
    parser.add_argument("--timeout", type=float, default=5.0, help="check timeout in seconds (default: 5)")
    parser.add_argument("--jitter", type=float, default=0.0, help="checks' jitter in seconds: each run starts up to this much late (default: 0)")
    parser.add_argument(
        "--hung-share",
        type=float,
        action="append",
        help="share of checks, 0 to 1, pointed at a port that accepts connections and never sends a response; repeat for several scenarios (default: 0 and 0.1)",
    )
    parser.add_argument("--reference-requests", type=int, default=1000, help="requests for each reference figure (default: 1000)")
    parser.add_argument("--profile", metavar="FILE", help="write cProfile stats of the event-loop thread over the steady window to FILE.hungSHARE; profiling inflates the CPU figures")
    parser.add_argument("--log-dir", metavar="DIR", help="keep each scenario's daemon log as DIR/daemon-hungSHARE.log (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.hung_share is None:
        args.hung_share = [0.0, 0.1]
    if args.duration <= args.interval:
        parser.error(f"--duration {args.duration:g} must exceed --interval {args.interval:g}, because the first interval is the warm-up")
    for share in args.hung_share:
        if not 0.0 <= share <= 1.0:
            parser.error(f"invalid --hung-share {share:g}; write a share from 0 to 1 such as 0.1")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv[1:])
    machine = machine_info(argv)
    results = []
    for share in args.hung_share:
        print(f"running {args.checks} checks for {args.duration:g} s with hung share {share:g} ...", file=sys.stderr, flush=True)
        results.append((share, run_in_worker(args, share)))
    print_report(machine, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
