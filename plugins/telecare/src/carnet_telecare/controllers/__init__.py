"""Telecare's handlers: staff pages (pages.py), the patient's pages through their link (public.py),
the JSON API (api.py)."""
