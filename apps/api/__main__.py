from apps.api.app import create_app
from drop.serve import run

run("api", "apps.entry:api", create_app, 3003)
