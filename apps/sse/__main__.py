from apps.sse.app import create_app
from drop.serve import run_streams

run_streams("sse", create_app, 3004, timeout_graceful_shutdown=5)
