from drop.serve import run
from drop.settings import NatsAuthSettings, SecretSettings


def check_secrets() -> None:
    """What the app would refuse to start without, checked before granian spawns workers
    (without importing the app itself, so a restart is quick)."""
    SecretSettings()
    NatsAuthSettings()


run("api", "apps.entry:api", check_secrets, 3003)
