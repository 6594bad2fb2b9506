"""The audit tables' migration matches their models."""

from carnet_core.db.migrate import drift


def test_audit_models_and_migration_agree(carnet_db, plugin_host):
    differences = [d for d in drift(carnet_db, plugin_host) if "core_audit" in repr(d)]
    assert differences == []
