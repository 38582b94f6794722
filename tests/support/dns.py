"""A loopback DNS server for tests: fixed A records, NXDOMAIN for every other name.

    with serve_dns({"app.example.test": "127.0.0.1"}) as dns_server:
        resolver = make_dns_resolver([dns_server.nameserver])
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

HOST = "127.0.0.1"


class StaticResolver(BaseResolver):
    """Resolve A queries from a fixed map and return NXDOMAIN for unknown names.

    A known name asked for another record type (AAAA, MX) gets an empty
    NOERROR reply, as a real zone with only A records would send.
    """

    def __init__(self, records: Mapping[str, str], ttl: int = 60) -> None:
        self._records = {name.lower().rstrip("."): address for name, address in records.items()}
        self._ttl = ttl
        self.queries: list[tuple[str, str]] = []

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        self.queries.append((name, qtype))
        address = self._records.get(name)
        if address is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif qtype == "A":
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=self._ttl))
        return reply


class serve_dns:  # noqa: N801 - used like a function: serve_dns(records)
    """Run a UDP DNS server on 127.0.0.1 in a background thread."""

    def __init__(self, records: Mapping[str, str]) -> None:
        self.resolver = StaticResolver(records)
        # The "-" prefix turns off every log type, so tests stay quiet.
        self._server = DNSServer(self.resolver, address=HOST, port=0, logger=DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False))

    @property
    def port(self) -> int:
        return int(self._server.server.server_address[1])

    @property
    def nameserver(self) -> str:
        """Return ``127.0.0.1:PORT``, the form make_dns_resolver takes."""
        return f"{HOST}:{self.port}"

    def __enter__(self) -> serve_dns:
        # dnslib's start_thread polls for shutdown every 0.5 s; a shorter poll
        # makes every test that stops the server that much faster.
        self._thread = threading.Thread(target=self._server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.server.shutdown()
        self._server.server.server_close()
        self._thread.join(timeout=5.0)
