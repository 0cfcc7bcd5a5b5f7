"""Organizations, users and their roles, passwords, UI sessions, API tokens, visibility."""
