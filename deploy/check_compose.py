"""Check docker-compose.yml without a Docker engine.

Why: CI has no Docker, so nothing else would notice a compose file that drifted from the local
scripts (a wrong image tag, a service missing an address, Kafka auto-creating topics).
Exits non-zero with one line per problem.

Run from anywhere: python deploy/check_compose.py [path/to/docker-compose.yml]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYTHON_IMAGE = "python:3.11-slim"
APP_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "DATABASE_URL": "postgresql+psycopg://svrr:svrr@postgres:5432/svrr",
    "TWILIO_API_BASE": "http://standin:8765",
    "PUBLIC_BASE_URL": "http://api:8000",
}
# service -> (image, parts its command must contain); no parts: the image's own command
EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "kafka": ("apache/kafka:{kafka_version}", ()),
    "postgres": ("postgres:16", ()),
    "topics": (PYTHON_IMAGE, ("pip install", " -e . ", "python deploy/topics.py")),
    "standin": (PYTHON_IMAGE, ("python deploy/twilio_standin.py",)),
    "api": (PYTHON_IMAGE, ("uvicorn services.api:app --host 0.0.0.0 --port 8000",)),
    "worker": (PYTHON_IMAGE, ("faust -L uvloop -A events.app worker -l info",)),
    "engine": (PYTHON_IMAGE, ("svrr engine",)),
}


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """The environment as a dict of strings, whichever of the two compose forms is used."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def kafka_version() -> str:
    """The default KAFKA_VERSION in deploy/env.sh, so both setups run the same broker."""
    env_sh = (ROOT / "deploy/env.sh").read_text()
    match = re.search(r'KAFKA_VERSION="\$\{KAFKA_VERSION:-([^}]+)\}"', env_sh)
    if not match:
        raise SystemExit("deploy/env.sh: no KAFKA_VERSION default found")
    return match.group(1)


def check(compose: dict[str, Any]) -> list[str]:
    """Every problem found, as readable lines; empty when the file is as expected."""
    problems: list[str] = []
    services: dict[str, Any] = compose.get("services") or {}
    if set(services) != set(EXPECTED):
        problems.append(f"services are {sorted(services)}, expected {sorted(EXPECTED)}")
    version = kafka_version()
    for name, (image, parts) in EXPECTED.items():
        svc = services.get(name)
        if svc is None:
            continue
        image = image.format(kafka_version=version)
        if svc.get("image") != image:
            problems.append(f"{name}: image {svc.get('image')!r}, expected {image!r}")
        command = svc.get("command")
        command = " ".join(command) if isinstance(command, list) else command or ""
        missing = [part for part in parts if part not in command]
        if missing:
            problems.append(f"{name}: command {command!r} lacks {missing}")
        if svc.get("image") == PYTHON_IMAGE:
            env = env_of(svc)
            for key, value in APP_ENV.items():
                if env.get(key) != value:
                    problems.append(f"{name}: {key}={env.get(key)!r}, expected {value!r}")
        for dep, spec in (svc.get("depends_on") or {}).items():
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep!r}")
            elif spec.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
                problems.append(f"{name}: waits for {dep} to be healthy, but it has no healthcheck")

    kafka = env_of(services.get("kafka", {}))
    if kafka.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") != "false":
        problems.append("kafka: KAFKA_AUTO_CREATE_TOPICS_ENABLE must be 'false'")
    if set(kafka.get("KAFKA_PROCESS_ROLES", "").split(",")) != {"broker", "controller"}:
        problems.append("kafka: KAFKA_PROCESS_ROLES must be broker,controller (single KRaft node)")

    pg = env_of(services.get("postgres", {}))
    if {pg.get(k) for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")} != {"svrr"}:
        problems.append("postgres: user/password/db must all be svrr")
    init = [v for v in services.get("postgres", {}).get("volumes", []) if "initdb.d" in v]
    init_sql = ROOT / init[0].split(":")[0] if init else None
    if not init_sql or not init_sql.is_file() or "svrr_test" not in init_sql.read_text():
        problems.append("postgres: no init SQL under deploy/compose/ creating svrr_test")
    return problems


def main() -> None:
    """Load the compose file, print each problem, exit 1 if there are any."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docker-compose.yml"
    problems = check(yaml.safe_load(path.read_text()))
    for problem in problems:
        print(f"{path.name}: {problem}")
    if problems:
        sys.exit(1)
    print(f"{path.name}: ok ({len(EXPECTED)} services)")


if __name__ == "__main__":
    main()
