from apps.web.app import create_app
from drop.serve import run

run("web", create_app, 3000, timeout_graceful_shutdown=5)
