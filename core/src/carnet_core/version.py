"""The running core version, read by the plugin host for compatibility checks."""

__version__ = "0.1.0"
