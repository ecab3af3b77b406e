"""ASGI factories granian calls in each server process ("apps.entry:api").

Each imports only its own app, so a process never loads the others.
"""

from __future__ import annotations

from typing import Any

from drop.serve import app_for_worker


def api() -> Any:
    from apps.api.app import create_app

    return app_for_worker("api", create_app)
