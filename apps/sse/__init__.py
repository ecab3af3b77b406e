"""Server-Sent Event streams fed from NATS (FastAPI + sse-starlette)."""
