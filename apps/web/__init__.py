"""The Jinja-rendered drop site and its /api and /events proxy."""
