"""Service error messages shown in pages, listed here so the French catalog carries them."""

from __future__ import annotations

from carnet_core.plugin_api import N_

SERVICE_MESSAGES = (
    N_("give a time with its offset, e.g. 2026-09-01T17:00:00+02:00"),
    N_("give a date between 2000 and 2099"),
    N_("the end must be after the start"),
    N_("an appointment lasts 12 hours at most"),
    N_("no such appointment type in this clinic"),
    N_("this appointment type is archived"),
    N_("no such practitioner in this clinic"),
    N_("no such patient in this clinic"),
    N_("no such room in this clinic"),
    N_("the room is not at the chosen place"),
    N_("no such place in this clinic"),
    N_("only a booked appointment can be moved"),
    N_("say why the appointment is cancelled"),
    N_("keep the reason under 300 characters"),
    N_("only a booked appointment can be cancelled"),
    N_("a cancelled appointment cannot be marked"),
    N_("an appointment is marked honoured or absent once it has started"),
    N_("notes hold 20000 characters at most"),
    N_("give 1 to 120 characters"),
    N_("give 5 to 480 minutes"),
    N_("give a colour such as #3b82f6"),
    N_("rooms belong to a cabinet place"),
    N_("the room is not at that place"),
    N_("give the prescription's date (not in the future)"),
    N_("give 1 to 200 sessions"),
    N_("no such prescription for this patient"),
    N_("this appointment is not part of a series"),
    N_("the last day must not be before the first day"),
    N_("give dates between 2000 and 2099"),
    N_("the end of the search must be after its start"),
    N_("search at most 92 days at a time"),
    N_("choose a practitioner of this clinic"),
    N_("give the day to cancel"),
    N_("a past day cannot be cancelled"),
    N_("say why the day is cancelled"),
    N_("choose a zone of the list, or none"),
)

TAKEN = N_("This time is taken.")

SLOT_REASONS = {
    "practitioner_busy": N_("The practitioner already has an appointment at that time."),
    "room_busy": N_("The room is already taken at that time."),
    "patient_already_booked_that_day": N_("The patient already has a session that day."),
}

REASON_LABELS = {
    **SLOT_REASONS,
    "public_holiday": N_("Public holiday"),
    "closure": N_("Clinic closed"),
    "school_holiday": N_("School holidays"),
    "practitioner_unavailable": N_("Practitioner away"),
    "nonexistent_time": N_("Clock change"),
}
