"""The public REST API (FastAPI)."""
