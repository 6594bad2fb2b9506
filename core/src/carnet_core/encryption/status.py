"""What `carnet keys status` shows: versions, their use, rewrap progress. No key material."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from carnet_core.encryption.models import DataKey, RewrapProgress, SubjectKey


def clinic_key_status(db: Any, clinic_id: int) -> dict[str, Any]:
    counts = dict(
        db.exec(
            select(SubjectKey.data_key_version, sa.func.count())
            .where(SubjectKey.clinic_id == clinic_id, SubjectKey.wrapped.is_not(None))
            .group_by(SubjectKey.data_key_version)
        ).all()
    )
    destroyed = db.exec(
        select(sa.func.count()).select_from(SubjectKey)
        .where(SubjectKey.clinic_id == clinic_id, SubjectKey.wrapped.is_(None))
    ).one()
    keys = [
        {
            "purpose": k.purpose, "version": k.version, "state": k.state,
            "created_at": k.created_at.isoformat(), "master_key_id": k.master_key_id,
            "subject_keys": counts.get(k.version, 0) if k.purpose == "data" else 0,
        }
        for k in db.exec(
            select(DataKey).where(DataKey.clinic_id == clinic_id).order_by(DataKey.purpose, DataKey.version)
        ).all()
    ]
    rewrap = [
        {"target_version": p.target_version, "step": p.step, "last_id": p.last_id, "moved": p.moved, "done": p.done}
        for p in db.exec(
            select(RewrapProgress).where(RewrapProgress.clinic_id == clinic_id)
            .order_by(RewrapProgress.target_version, RewrapProgress.id)
        ).all()
    ]
    return {"keys": keys, "destroyed_subject_keys": destroyed, "rewrap": rewrap}
