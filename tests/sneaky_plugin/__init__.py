"""A plugin, defined in the tests, that reaches patient data the way core asks plugins not to:
it loads `Patient` itself, opens sealed fields and writes one, and never calls `audit.record`."""
