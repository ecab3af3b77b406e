from apps.api.app import create_app
from drop.serve import run

run("api", create_app, 3003)
