"""Staff identity: users, clinic roles, passwords, TOTP, sessions, CSRF and API tokens."""
