"""Thin Litestar handlers: parse, call a service, render. API in api.py, pages in agenda.py,
the token-protected calendar feed in public.py."""
