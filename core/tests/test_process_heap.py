"""Long-running processes freeze their start-up heap (carnet_core.process.freeze_startup_heap): the
ASGI factory builds the app, then moves the objects it keeps for its lifetime out of the cyclic
collector's reach, so full collections no longer walk them again every few dozen requests."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import gc
from carnet_core.web.asgi import build
assert gc.get_freeze_count() == 0
app = build()
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_the_asgi_factory_freezes_what_it_built(carnet_settings, carnet_db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update({
        "CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url,
        "CARNET_IN_PROCESS_WORKER": "0", "CARNET_TESTING": "1", "CARNET_LOG_LEVEL": "warning",
    })
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)  # noqa: S603
    assert done.returncode == 0, done.stderr
    frozen, tracked = map(int, done.stdout.split()[-2:])
    # modules, plugins, routes, models and templates' environment: frozen; next to nothing left
    assert frozen > 50_000
    assert tracked < frozen / 10


def test_garbage_is_collected_before_freezing():
    # a cycle dropped before the freeze is collected, not kept forever in the frozen generation
    probe = (
        "import gc, weakref\n"
        "from carnet_core.process import freeze_startup_heap\n"
        "class Cycle: pass\n"
        "a = Cycle(); a.me = a; ref = weakref.ref(a); del a\n"
        "assert ref() is not None\n"
        "n = freeze_startup_heap()\n"
        "assert n == gc.get_freeze_count() > 1000\n"
        "print('collected' if ref() is None else 'kept')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)  # noqa: S603
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "collected"
