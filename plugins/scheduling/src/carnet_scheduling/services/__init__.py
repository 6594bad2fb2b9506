"""Scheduling services. Pure domain (calendar, recurrence, slots) needs no database; the rest
takes a `CarnetSession` first. Nothing here imports Litestar or Jinja."""
