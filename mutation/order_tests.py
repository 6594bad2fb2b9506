"""Pytest plugin of `make mutation` (scripts/mutation.py loads it through PYTEST_PLUGINS).

mutmut runs each mutant against the tests that call the mutated function, stopping at the first
failure (-x), in no particular order. Running the quickest tests first (by the durations mutmut
measured, `mutmut-stats.json` in its working folder) makes a killed mutant cost its quickest
failing test instead of, on average, half of the slow ones. Survivors run every test either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def pytest_collection_modifyitems(items: list[Any]) -> None:
    stats = Path("mutmut-stats.json")
    if not stats.exists():
        return
    durations = json.loads(stats.read_text()).get("duration_by_test", {})
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
