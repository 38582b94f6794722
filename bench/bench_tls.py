"""Benchmark the daemon with many tls checks against one nginx on loopback.

The parent process makes a certificate chain (root, intermediate, and a
leaf for *.bench.test) for this run and starts Debian's nginx on a free
127.0.0.1 port with it, through the helpers the tests use. A fresh worker
process then measures the reference figures and runs ``run_daemon`` with a
YAML config. The config keeps SQLite storage in a temporary directory,
disables the web app and sets ``ca_file`` to the run's root. Every check is
a ``tls`` check of app.bench.test, which the site's ``resolve`` map sends to
127.0.0.1. DNS points at 127.0.0.1:1, where nothing listens. nginx runs in
its own process, so its CPU is not counted.

    python bench/bench_tls.py                             # full size, about 75 seconds
    python bench/bench_tls.py --checks 50 --duration 15   # smoke run
    python bench/bench_tls.py --duration 30 --profile /tmp/tls.prof
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import socket
import ssl
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Import launchwatch and the test helpers from the tree this script belongs
# to, not from whichever copy happens to be installed in site-packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from OpenSSL import SSL

from bench_daemon import (
    DNS_NAMESERVER,
    GOAL_CPU_MS_PER_CHECK,
    GOAL_LAG_P99_MS,
    GOAL_PEAK_RSS_MIB,
    HOST,
    WORKER_SLACK_S,
    Recorder,
    count_log_lines,
    count_stored_results,
    interval_stats,
    machine_info,
    mark,
    mark_all,
    measure_probe,
    peak_rss_mib,
    percentile,
    run_and_report,
    run_daemon_measured,
    stop_process,
)
from launchwatch.monitor.configfile import load_config
from launchwatch.monitor.daemon import build_runner
from launchwatch.monitor.logs import setup_logging
from launchwatch.probes import certs, tls
from tests.support import pki
from tests.support.nginx import free_port, running_nginx

SERVER_NAME = "app.bench.test"
LEAF_NAMES = ["*.bench.test", "bench.test"]

# TLS 1.2 and 1.3 only, so nginx rejects the probe's protocol-floor
# handshake (TLS 1.1 at most) and every check can pass. Neither the probe nor
# the references offer a session to resume, so every handshake is a full one.
_SERVER_BLOCK = """\
    server {{
        listen {host}:{port} ssl default_server;
        server_name {server_name};
        ssl_certificate {cert_path};
        ssl_certificate_key {key_path};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            return 200 "ok";
        }}
    }}
"""


@dataclass(frozen=True)
class TlsScenarioParams:
    # run_daemon_measured reads interval_s, duration_s and profile_path.
    checks: int
    interval_s: float
    timeout_s: float
    duration_s: float
    reference_handshakes: int
    port: int
    ca_file: str
    profile_path: str | None
    log_path: str | None


# --- nginx and certificates -----------------------------------------------------


def write_pki(directory: Path) -> tuple[Path, Path, Path]:
    """Make a root, an intermediate and a leaf for LEAF_NAMES; return the CA, chain and key paths."""
    root = pki.make_root("launchwatch bench root")
    intermediate = pki.make_intermediate(root, "launchwatch bench intermediate")
    leaf = pki.make_leaf(intermediate, LEAF_NAMES)
    ca_path = pki.write_pem(directory / "ca.pem", root)
    chain_path = pki.write_pem(directory / "chain.pem", leaf, intermediate)
    key_path = pki.write_key(directory / "leaf.key", leaf)
    return ca_path, chain_path, key_path


def nginx_problem_lines(error_log: Path) -> dict[str, int]:
    """Count nginx error-log lines at level error or worse, and lines about running out of connections."""
    counts: Counter[str] = Counter()
    try:
        text = error_log.read_text(errors="replace")
    except OSError:
        return {}
    for line in text.splitlines():
        for level in ("[emerg]", "[alert]", "[crit]", "[error]"):
            if level in line:
                counts[level.strip("[]")] += 1
        if "worker_connections are not enough" in line:
            counts["worker_connections are not enough"] += 1
    return dict(counts)


# --- references -----------------------------------------------------------------


def measure_ssl_blocking(port: int, ca_file: str, handshakes: int) -> float:
    """Return CPU milliseconds per verified handshake with the ssl module on blocking sockets."""
    context = ssl.create_default_context(cafile=ca_file)
    cpu_start = time.process_time()
    for _ in range(handshakes):
        with socket.create_connection((HOST, port)) as raw:
            with context.wrap_socket(raw, server_hostname=SERVER_NAME):
                pass
    return (time.process_time() - cpu_start) * 1000 / handshakes


async def measure_ssl_asyncio(port: int, ca_file: str, handshakes: int) -> float:
    """Return CPU milliseconds per verified handshake with the ssl module through asyncio streams."""
    context = ssl.create_default_context(cafile=ca_file)
    cpu_start = time.process_time()
    for _ in range(handshakes):
        _, writer = await asyncio.open_connection(HOST, port, ssl=context, server_hostname=SERVER_NAME)
        writer.close()
        await writer.wait_closed()
    return (time.process_time() - cpu_start) * 1000 / handshakes


async def measure_probe_handshake(port: int, handshakes: int) -> float:
    """Return CPU milliseconds per run of the probe's own handshake (pyOpenSSL over memory BIOs), nothing verified."""
    cpu_start = time.process_time()
    for _ in range(handshakes):
        await tls.handshake(HOST, port, SERVER_NAME)
    return (time.process_time() - cpu_start) * 1000 / handshakes


async def measure_rejected_floor_handshake(port: int, handshakes: int) -> float:
    """Return CPU milliseconds per protocol-floor handshake (TLS 1.1 at most) that nginx rejects."""
    cpu_start = time.process_time()
    for _ in range(handshakes):
        try:
            await tls.handshake(HOST, port, SERVER_NAME, min_version=SSL.TLS1_VERSION, max_version=SSL.TLS1_1_VERSION)
        except tls.HandshakeError:
            pass
        else:
            raise RuntimeError(f"nginx on port {port} accepted TLS 1.1, so the checks would fail; it must allow only TLS 1.2 and 1.3")
    return (time.process_time() - cpu_start) * 1000 / handshakes


def measure_system_trust_store(runs: int) -> float:
    """Return CPU milliseconds per trust store built from the system CA bundle.

    The probe builds its store on every run from the SSL context's CA list,
    so this is what each run pays when neither the check nor the daemon sets
    ca_file. The benchmark's checks use the one-certificate test root instead.
    """
    context = ssl.create_default_context()
    cpu_start = time.process_time()
    for _ in range(runs):
        certs.build_trust_store(context.get_ca_certs(binary_form=True))
    return (time.process_time() - cpu_start) * 1000 / runs


# --- config and scenario --------------------------------------------------------


def write_config(directory: Path, params: TlsScenarioParams) -> Path:
    checks = [
        {
            "id": f"t{index:05d}",
            "kind": "tls",
            "options": {"hosts": [f"{SERVER_NAME}:{params.port}"], "follow_redirects": False},
        }
        for index in range(params.checks)
    ]
    document = {
        "state_dir": str(directory / "state"),
        "web": {"enabled": False},
        "ca_file": params.ca_file,
        "dns": {"nameservers": [DNS_NAMESERVER], "timeout": params.timeout_s},
        "defaults": {"interval": params.interval_s, "timeout": params.timeout_s},
        "sites": [
            {"name": "bench", "base_url": f"https://{SERVER_NAME}:{params.port}", "resolve": {SERVER_NAME: HOST}, "checks": checks},
        ],
    }
    path = directory / "launchwatch.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


async def run_scenario(params: TlsScenarioParams, directory: Path) -> dict[str, Any]:
    """Measure the references, then run the daemon for ``params.duration_s``; return the figures."""
    count = params.reference_handshakes
    references = {
        "reference_ssl_blocking_ms": measure_ssl_blocking(params.port, params.ca_file, count),
        "reference_ssl_asyncio_ms": await measure_ssl_asyncio(params.port, params.ca_file, count),
        "reference_probe_handshake_ms": await measure_probe_handshake(params.port, count),
        "reference_rejected_floor_ms": await measure_rejected_floor_handshake(params.port, count),
        "reference_system_store_ms": measure_system_trust_store(min(count, 100)),
    }

    log_path = Path(params.log_path) if params.log_path else directory / "daemon.log"
    with log_path.open("w", encoding="utf-8") as log_stream:
        setup_logging("text", "INFO", stream=log_stream)
        loaded = load_config(write_config(directory, params))
        check_ids = {check.id for check in loaded.checks}
        references["reference_probe_ms"] = await measure_probe(loaded.checks[0], build_runner(loaded, None, None), count)

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
        "window_s": window.end - window.start,
        "completed": window.completed,
        "statuses": dict(statuses),
        "cpu_s": cpu_s,
        "cpu_ms_per_check": cpu_s * 1000 / window.completed if window.completed else float("nan"),
        "cpu_share_of_core": cpu_s / (window.end - window.start),
        "loop_thread_cpu_share": window.loop_thread_s / cpu_s if cpu_s else float("nan"),
        # NOTE: on loopback the kernel can process nginx's side of a TCP
        # exchange inside this process's system calls, so system time
        # overstates what a remote server would cost.
        "system_share": window.system_s / cpu_s if cpu_s else float("nan"),
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_start_mib": rss_before_start,
        "lag_count": len(lags_ms),
        "lag_p50_ms": percentile(lags_ms, 0.50),
        "lag_p99_ms": percentile(lags_ms, 0.99),
        "lag_max_ms": max(lags_ms, default=float("nan")),
        "interval": interval_stats(recorder.starts, check_ids, bounds, params.interval_s),
        "runs_total": len(recorder.completions),
        "stored_results": count_stored_results(loaded),
        "log_lines": count_log_lines(log_path),
        **references,
    }


def scenario_worker(params: TlsScenarioParams, conn: multiprocessing.connection.Connection) -> None:
    """Run the scenario in this process and send back its figures or the error."""
    run_and_report(run_scenario, params, conn, prefix="launchwatch-bench-tls-")


def run_with_nginx(args: argparse.Namespace) -> dict[str, Any]:
    """Start nginx with a fresh chain and one worker; return the worker's figures."""
    with tempfile.TemporaryDirectory(prefix="launchwatch-bench-nginx-") as name:
        directory = Path(name)
        ca_path, chain_path, key_path = write_pki(directory)
        port = free_port()
        server = _SERVER_BLOCK.format(host=HOST, port=port, server_name=SERVER_NAME, cert_path=chain_path, key_path=key_path)
        with running_nginx(directory / "nginx", server, [port]) as nginx:
            params = TlsScenarioParams(
                checks=args.checks,
                interval_s=args.interval,
                timeout_s=args.timeout,
                duration_s=args.duration,
                reference_handshakes=args.reference_handshakes,
                port=port,
                ca_file=str(ca_path),
                profile_path=args.profile,
                log_path=str(Path(args.log_dir) / "daemon-tls.log") if args.log_dir else None,
            )
            context = multiprocessing.get_context("spawn")
            receive, send = context.Pipe(duplex=False)
            worker = context.Process(target=scenario_worker, args=(params, send), name="bench-tls")
            worker.start()
            try:
                if not receive.poll(args.duration + WORKER_SLACK_S + 30.0):
                    raise RuntimeError("the tls scenario timed out and was stopped; run it again with --log-dir to read the daemon log")
                message = receive.recv()
            finally:
                worker.join(30.0)
                if worker.is_alive():
                    stop_process(worker)
            nginx_problems = nginx_problem_lines(nginx.error_log)
    if not message["ok"]:
        raise RuntimeError(f"the tls scenario failed:\n{message['error']}")
    return {**message["figures"], "nginx_problems": nginx_problems}


# --- report -----------------------------------------------------------------------


def figure_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    interval = figures["interval"]
    statuses = ", ".join(f"{key} {value}" for key, value in sorted(figures["statuses"].items())) or "none"
    return [
        ("checks", str(figures["checks"])),
        ("steady window", f"{figures['window_s']:.1f} s"),
        ("completed checks in window", f"{figures['completed']} ({statuses})"),
        ("CPU per completed check", f"{figures['cpu_ms_per_check']:.3f} ms ({mark(figures['cpu_ms_per_check'], GOAL_CPU_MS_PER_CHECK)} < {GOAL_CPU_MS_PER_CHECK} ms)"),
        ("CPU use in window", f"{figures['cpu_share_of_core'] * 100:.1f} % of one core, {figures['loop_thread_cpu_share'] * 100:.0f} % of it on the event-loop thread, {figures['system_share'] * 100:.0f} % system time"),
        ("peak RSS (VmHWM)", f"{figures['peak_rss_mib']:.1f} MiB ({mark(figures['peak_rss_mib'], GOAL_PEAK_RSS_MIB)} < {GOAL_PEAK_RSS_MIB:.0f} MiB); {figures['rss_before_start_mib']:.1f} MiB before the scheduler started"),
        ("scheduler lag p50 / p99 / max", f"{figures['lag_p50_ms']:.1f} / {figures['lag_p99_ms']:.1f} / {figures['lag_max_ms']:.1f} ms ({mark(figures['lag_p99_ms'], GOAL_LAG_P99_MS)} p99 < {GOAL_LAG_P99_MS:.0f} ms; {figures['lag_count']} samples)"),
        ("interval p50 / p99", f"{interval['p50_s']:.3f} / {interval['p99_s']:.3f} s (max {interval['max_s']:.3f} s)"),
        ("intervals within 10 %", f"{interval['within_share'] * 100:.2f} % of {interval['count']} ({mark_all(interval['within_share'])})"),
        ("runs total / results stored", f"{figures['runs_total']} / {figures['stored_results']}"),
        ("daemon log lines", ", ".join(f"{name}: {count}" for name, count in sorted(figures["log_lines"].items())) or "none"),
        ("nginx error-log problems", ", ".join(f"{name}: {count}" for name, count in sorted(figures["nginx_problems"].items())) or "none"),
        ("reference: ssl module handshake, blocking socket", f"{figures['reference_ssl_blocking_ms']:.3f} ms CPU per handshake"),
        ("reference: ssl module handshake, asyncio stream", f"{figures['reference_ssl_asyncio_ms']:.3f} ms CPU per handshake"),
        ("reference: probe's pyOpenSSL handshake alone", f"{figures['reference_probe_handshake_ms']:.3f} ms CPU per handshake"),
        ("reference: probe's TLS 1.1 handshake, rejected", f"{figures['reference_rejected_floor_ms']:.3f} ms CPU per handshake"),
        ("reference: tls probe alone, one after another", f"{figures['reference_probe_ms']:.3f} ms CPU per run"),
        ("reference: trust store from the system CA bundle", f"{figures['reference_system_store_ms']:.3f} ms CPU per build"),
    ]


def print_report(machine: dict[str, str], figures: dict[str, Any]) -> None:
    print()
    for key, value in machine.items():
        print(f"{key:>14}: {value}")
    print()
    rows = figure_rows(figures)
    for name, value in rows:
        print(f"  {name:<50} {value}")

    print("\n--- Markdown ---\n")
    print(" | ".join(f"{key} {value}" for key, value in machine.items() if key != "command"))
    print(f"\nCommand: `{machine['command']}`\n")
    print("| figure | value |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the launchwatch daemon with tls checks against nginx on loopback.")
    parser.add_argument("--checks", type=int, default=1000, help="number of tls checks (default: 1000)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the daemon runs, including a warm-up of one interval (default: 60)")
    parser.add_argument("--interval", type=float, default=10.0, help="check interval in seconds (default: 10)")
    parser.add_argument("--timeout", type=float, default=5.0, help="check timeout in seconds (default: 5)")
    parser.add_argument("--reference-handshakes", type=int, default=1000, help="handshakes or probe runs for each reference figure (default: 1000)")
    parser.add_argument("--profile", metavar="FILE", help="write cProfile stats of the event-loop thread over the steady window to FILE; profiling inflates the CPU figures")
    parser.add_argument("--log-dir", metavar="DIR", help="keep the daemon log as DIR/daemon-tls.log (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.duration <= args.interval:
        parser.error(f"--duration {args.duration:g} must exceed --interval {args.interval:g}, because the first interval is the warm-up")
    if args.checks < 1 or args.reference_handshakes < 1:
        parser.error("--checks and --reference-handshakes must be at least 1")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv[1:])
    machine = {"openssl": ssl.OPENSSL_VERSION, **machine_info(argv)}
    print(f"running {args.checks} tls checks for {args.duration:g} s ...", file=sys.stderr, flush=True)
    figures = run_with_nginx(args)
    print_report(machine, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
