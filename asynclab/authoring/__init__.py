"""Authoring: solutions/ is the source of truth; notebooks/ is generated from it."""
