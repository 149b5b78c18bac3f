"""Every demo test writes its behaviour events into a lake of its own, never into var/lake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def demo_lake(tmp_path: Path, settings: Any) -> Path:
    lake = tmp_path / "lake"
    settings.LAKE_URL = str(lake)
    return lake
