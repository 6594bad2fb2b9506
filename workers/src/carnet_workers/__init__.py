"""Carnet's worker and scheduler processes (`carnet worker`, `carnet scheduler`)."""

from carnet_workers.main import run_scheduler, run_worker

__all__ = ["run_scheduler", "run_worker"]
