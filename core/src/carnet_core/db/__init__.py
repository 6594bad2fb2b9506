"""Database access: engine, clinic-scoped sessions, migrations."""

from carnet_core.db.base import ClinicOwned, UTCDateTime, utcnow
from carnet_core.db.session import Database, ScopeError

__all__ = ["ClinicOwned", "Database", "ScopeError", "UTCDateTime", "utcnow"]
