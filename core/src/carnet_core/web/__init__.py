"""The web shell: app factory, request principal, guards, rendering."""
