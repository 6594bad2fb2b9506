"""Pytest plugin of `make mutation` (scripts/mutation.py loads it through PYTEST_PLUGINS).

mutmut runs each mutant against the tests that call the mutated function, stopping at the first
failure (-x), in no particular order. Running the quickest tests first (by the durations mutmut
measured, `mutmut-stats.json` in its working folder) makes a killed mutant cost its quickest
failing test instead of, on average, half of the slow ones. Survivors run every test either way.

MUTATION_EXCLUDE (node ids, one a line; scripts/mutation.py fills it from the target's `exclude`)
deselects tests: through the environment, so that changing the list does not change mutmut's
fingerprint of its pytest arguments (which would re-run every mutant).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    excluded = {line.strip() for line in os.environ.get("MUTATION_EXCLUDE", "").splitlines() if line.strip()}
    dropped = [item for item in items if item.nodeid.split("[")[0] in excluded or item.nodeid in excluded]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
    stats = Path("mutmut-stats.json")
    if not stats.exists():
        return
    durations = json.loads(stats.read_text()).get("duration_by_test", {})
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
