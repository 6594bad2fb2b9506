"""The patient registry shared by every plugin: sealed identity and contact fields, exact search
through blind indexes, guardians of minors, per-practitioner visibility, audited access."""
