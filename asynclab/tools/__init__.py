"""Command-line tools for the course's own make targets."""
