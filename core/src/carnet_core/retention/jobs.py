"""`core.retention_daily`: once a day, for every clinic, archive what is due and propose what is
due for destruction (an owner confirms; nothing is destroyed here). Takes no arguments; safe to
run twice (it acts on the state it finds: an archived record is not archived again, a patient
with an open proposal gets no second one)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("carnet.retention")


def retention_daily(job: Any) -> None:
    from carnet_core.clinics.services import list_clinics
    from carnet_core.retention.services import clinic_today, run_daily

    with job.session(unscoped=True) as db:
        clinics = list_clinics(db)
    for clinic in clinics:
        with job.session(clinic_id=clinic.id) as db:
            archived, proposed, withdrawn = run_daily(db, job.host, clinic, clinic_today(clinic))
        if archived or proposed or withdrawn:
            log.info("retention for clinic %s: %d archived, %d proposed for destruction, %d withdrawn",
                     clinic.id, archived, proposed, withdrawn)
