"""Playbooks: the schema of a migration as data, and a loader whose errors name file, line,
step and field."""
