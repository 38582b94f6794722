"""Fixtures of the daemon tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daemon.daemon_support import TargetControl, controllable_target
from tests.support.targets import serve_app


@pytest.fixture
def target() -> Iterator[tuple[TargetControl, int]]:
    control = TargetControl()
    with serve_app(controllable_target(control)) as server:
        yield control, server.port


