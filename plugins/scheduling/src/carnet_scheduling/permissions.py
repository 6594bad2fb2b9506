"""Scheduling permissions and the roles that hold them by default."""

from __future__ import annotations

from carnet_core.plugin_api import Permission

VIEW = "scheduling.view"  # see the agenda (patient names, times, places; no clinical notes)
MANAGE = "scheduling.manage"  # book, move, cancel, mark attendance, series, set-up of own agenda
CLINICAL = "scheduling.clinical"  # read and write clinical notes of appointments
CONFIGURE = "scheduling.configure"  # places, rooms, appointment types, closures, school holidays
FEED = "scheduling.feed"  # manage one's own calendar feed

PERMISSIONS = [
    Permission(VIEW, "See the agenda", roles=("owner", "practitioner", "secretary")),
    Permission(MANAGE, "Book, move and cancel appointments", roles=("owner", "practitioner", "secretary")),
    Permission(CLINICAL, "Read and write clinical notes of appointments", roles=("owner", "practitioner")),
    Permission(CONFIGURE, "Configure places, rooms and appointment types", roles=("owner",)),
    Permission(FEED, "Manage one's calendar feed", roles=("owner", "practitioner")),
]
