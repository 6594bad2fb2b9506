"""An example plugin, defined in the tests, that uses every core hook like a real plugin would."""
