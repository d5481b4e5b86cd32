"""Write each contract as a JSON Schema file under schemas/json/.

Run `python -m schemas.export`; a test fails when the committed files drift from the models,
so the files a hospital integrates against are always the ones the code validates with.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas.events import CONTRACTS, Event

OUT = Path(__file__).parent / "json"


def version_of(contract: type[Event]) -> int:
    """The contract's schema_version: what its records carry and its file is named for."""
    return int(contract.model_fields["schema_version"].default)


def path_of(contract: type[Event]) -> Path:
    return OUT / f"{contract.__name__}.v{version_of(contract)}.schema.json"


def schema_of(contract: type[Event]) -> dict[str, object]:
    schema = contract.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:svrr:event:{contract.__name__}:v{version_of(contract)}"
    schema["x-topic"] = contract.topic
    schema["x-key"] = contract.key_field
    return schema


def render(contract: type[Event]) -> str:
    return json.dumps(schema_of(contract), indent=2, sort_keys=True) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    current = {path_of(contract): contract for contract in CONTRACTS}
    for path, contract in current.items():
        path.write_text(render(contract))
        print(path)
    # A contract's previous version is no longer produced or read here: its file goes, so
    # the folder is exactly what the code validates with (a test checks it).
    for path in sorted(OUT.glob("*.schema.json")):
        if path not in current:
            path.unlink()
            print(f"removed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
