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


def schema_of(contract: type[Event]) -> dict[str, object]:
    schema = contract.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:svrr:event:{contract.__name__}:v1"
    schema["x-topic"] = contract.topic
    schema["x-key"] = contract.key_field
    return schema


def render(contract: type[Event]) -> str:
    return json.dumps(schema_of(contract), indent=2, sort_keys=True) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for contract in CONTRACTS:
        path = OUT / f"{contract.__name__}.v1.schema.json"
        path.write_text(render(contract))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
