"""The clinic most plugin tests start from: an owner who also practises, a second practitioner,
a secretary, and patients registered through core's patient registry (sealed names).

    def test_x(make_team):
        team = make_team("cabinet-x", patients=3)          # every loaded plugin enabled
        team.owner, team.practitioner, team.secretary, team.patients

The members are accounts with memberships, not logged-in clients: for real logins use `staff` and
`login_as`. Principals for service calls are the plugin's business (its permissions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

MEMBERS = (
    ("claire", "Claire Martin", ("owner", "practitioner")),
    ("julien", "Julien Petit", ("practitioner",)),
    ("sophie", "Sophie Bernard", ("secretary",)),
)


@dataclass
class Team:
    clinic: Any
    owner: Any  # owner and practitioner (Claire Martin): the patients' practitioner
    practitioner: Any  # practitioner only (Julien Petit)
    secretary: Any  # secretary (Sophie Bernard)
    patients: list[int]


def register_patients(database: Any, clinic_id: int, names: Sequence[tuple[str, str]],
                      practitioner_id: int | None = None) -> list[int]:
    """Register patients (last name, first name) through core's registry, as an owner would; with
    `practitioner_id`, that practitioner follows them."""
    from carnet_core.patients.patient_access import patient_access
    from carnet_core.web.principal import Principal

    ids = []
    with database.session(clinic_id=clinic_id) as db:
        db.info["principal"] = "system:tests"
        registrar = Principal(kind="user", user_id=None, clinic_id=clinic_id, roles=frozenset({"owner"}))
        for last, first in names:
            data: dict[str, Any] = {"last_name": last, "first_name": first}
            if practitioner_id is not None:
                data["practitioner_id"] = practitioner_id
            ids.append(patient_access(db, registrar).register(data))
    return ids


@pytest.fixture
def make_team(carnet_db: Any, make_clinic: Callable[..., Any]) -> Callable[..., Team]:
    """`make_team(slug, plugins=None, patients=3, names=None)`: a clinic (every loaded plugin
    enabled unless `plugins` says), its three members (e-mails `<first name>@<slug>.fr`) and
    `patients` patients followed by the owner, named by `names` (default "Lefèvre0 Élodie"…)."""

    def make(slug: str = "cabinet-team", plugins: list[str] | None = None, patients: int = 3,
             names: Sequence[tuple[str, str]] | None = None) -> Team:
        from carnet_core.identity import services as identity

        clinic = make_clinic(slug, plugins=plugins)
        users = []
        with carnet_db.session(clinic_id=clinic.id) as db:
            db.info["principal"] = "system:tests"
            for login, name, roles in MEMBERS:
                user = identity.create_or_get_user(db, f"{login}@{slug}.fr", name)
                identity.set_membership(db, clinic.id, user.id, roles)
                users.append(user)
        chosen = list(names) if names is not None else [(f"Lefèvre{n}", "Élodie") for n in range(patients)]
        ids = register_patients(carnet_db, clinic.id, chosen, practitioner_id=users[0].id)
        return Team(clinic, users[0], users[1], users[2], ids)

    return make
