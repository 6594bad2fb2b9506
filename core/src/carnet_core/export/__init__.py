"""Full clinic export: every module's records, decrypted into open formats, encrypted for its recipient."""
