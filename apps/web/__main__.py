from apps.web.app import create_app
from drop.serve import run_streams

run_streams("web", create_app, 3000, timeout_graceful_shutdown=5)
