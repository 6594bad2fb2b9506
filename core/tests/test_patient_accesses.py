"""A patient's page shows who accessed the file: staff names, actions, from the audit trail."""

PATIENT = {"last_name": "Moreau", "first_name": "Inès", "birth_date": "2016-04-02", "sex": "F",
           "email": "famille.moreau@example.fr", "phone": "+33 6 11 22 33 44"}


def test_the_practitioner_sees_who_read_and_changed_the_file(client, staff, login_as):
    practitioner = staff("practitioner", name="Claire Martin")
    login_as(client, practitioner)
    created = client.post("/api/v1/patients", json=PATIENT)
    assert created.status_code == 201
    pid = created.json()["id"]
    assert client.get(f"/patients/{pid}").status_code == 200
    assert f'href="/patients/{pid}/accesses"' in client.get(f"/patients/{pid}").text

    page = client.get(f"/patients/{pid}/accesses")
    assert page.status_code == 200
    assert "Claire Martin" in page.text and "consulté" in page.text and "créé" in page.text
    partial = client.get(f"/patients/{pid}/accesses", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div class="table-wrap"><table class="table" id="patient-accesses">')
    # looking at the accesses is recorded too: exactly one record per look, naming who and whose file
    from sqlmodel import select

    from carnet_core.audit.models import AuditRecord

    db_ = client.app.state["carnet"].db
    with db_.session(unscoped=True) as db:
        before = db.exec(select(AuditRecord.id)).all()
    client.get(f"/patients/{pid}/accesses")
    with db_.session(unscoped=True) as db:
        new = db.exec(select(AuditRecord).where(AuditRecord.id.not_in(before))).all()
    assert [(r.action, r.resource_type, r.resource_id, r.patient_id, r.actor_kind, r.actor_user_id) for r in new] == [
        ("read", "patient_accesses", str(pid), pid, "user", practitioner.id)
    ]


def test_a_secretary_cannot_see_the_accesses_and_other_clinics_get_404(client, staff, login_as, make_clinic):
    practitioner = staff("practitioner")
    login_as(client, practitioner)
    pid = client.post("/api/v1/patients", json=PATIENT).json()["id"]
    client.post("/logout")
    login_as(client, staff("secretary"))
    assert client.get(f"/patients/{pid}/accesses").status_code == 403
    client.post("/logout")
    other = make_clinic("autre-cabinet", plugins=[])
    login_as(client, staff("owner,practitioner", clinic=other))
    assert client.get(f"/patients/{pid}/accesses").status_code == 404
