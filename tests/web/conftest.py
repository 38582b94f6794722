"""Fixtures of the web tests. The helpers they use are in web_support."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.web_support import Scenario, build_scenario


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    with build_scenario(tmp_path) as built:
        yield built
