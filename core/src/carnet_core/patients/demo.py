"""`carnet demo` step: believable patients for the demo clinic, registered through the service
(sealed, indexed, audited), before the plugins' demo_data hooks use them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from carnet_core.patients.services import create_patient
from carnet_core.web.principal import Principal

# (last name, first name, birth date, sex, phone) — children and adults, as in a rehabilitation practice.
DEMO_PATIENTS = (
    ("Lefèvre", "Léo", "2017-03-14", "M", "06 12 34 56 01"),
    ("Moreau", "Chloé", "2016-09-02", "F", "06 12 34 56 02"),
    ("Garnier", "Hugo", "2018-01-27", "M", "06 12 34 56 03"),
    ("Faure", "Inès", "2015-06-19", "F", "06 12 34 56 04"),
    ("Rousseau", "Nathan", "2017-11-08", "M", "06 12 34 56 05"),
    ("Blanc", "Manon", "2014-04-23", "F", "06 12 34 56 06"),
    ("Guerin", "Lucas", "2019-02-11", "M", "06 12 34 56 07"),
    ("Muller", "Jade", "2016-12-30", "F", "06 12 34 56 08"),
    ("Henry", "Gabriel", "1958-07-04", "M", "06 12 34 56 09"),
    ("Roussel", "Louise", "1972-10-15", "F", "06 12 34 56 10"),
    ("Nicolas", "Arthur", "1985-05-21", "M", "06 12 34 56 11"),
    ("Perrin", "Camille", "1990-08-09", "F", "06 12 34 56 12"),
    ("Morin", "Jules", "1949-01-17", "M", "06 12 34 56 13"),
    ("Mathieu", "Alice", "2001-03-03", "F", "06 12 34 56 14"),
    ("Clément", "Raphaël", "1967-09-26", "M", "06 12 34 56 15"),
    ("Gauthier", "Lina", "2013-02-05", "F", "06 12 34 56 16"),
    ("Dumont", "Adam", "2018-06-12", "M", "06 12 34 56 17"),
    ("Lopez", "Rose", "1979-12-01", "F", "06 12 34 56 18"),
    ("Fontaine", "Louis", "1955-04-28", "M", "06 12 34 56 19"),
    ("Chevalier", "Anna", "2015-10-10", "F", "06 12 34 56 20"),
)


def demo_patients(db: Any, clinic: Any, context: dict[str, Any]) -> Iterator[str]:
    owner = context.get("owner")
    if owner is None:
        return
    principal = Principal(kind="user", user_id=owner.id, clinic_id=clinic.id, clinic=clinic,
                          roles=frozenset({"owner"}), permissions=frozenset())
    practitioners = context.get("practitioners") or [owner]
    for n, (last, first, born, sex, phone) in enumerate(DEMO_PATIENTS):
        follower = practitioners[0] if n < len(DEMO_PATIENTS) * 6 // 10 else practitioners[-1]
        patient = create_patient(db, principal, {
            "last_name": last, "first_name": first, "birth_date": born, "sex": sex, "phone": phone,
            "email": f"{first.lower()}.{last.lower()}@exemple.fr".replace("ë", "e").replace("è", "e")
                     .replace("é", "e").replace("ï", "i"),
            "practitioner_id": follower.id,
        })
        context["patients"].append(patient)
    yield f"demo: {len(DEMO_PATIENTS)} patients"
