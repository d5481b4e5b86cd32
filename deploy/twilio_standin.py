#!/usr/bin/env python3
"""Run the local Twilio stand-in (the package deploy/standin/ holds it).

Run: python deploy/twilio_standin.py --port 8765 --account-sid AC... --auth-token ...
Point the product at it with `client.api.base_url = "http://127.0.0.1:8765"`.

Why a script beside the package: the demo, docker-compose and the tests' stack start the
stand-in by this path; run as a script, its folder is first on sys.path, so the package
imports as `standin` without the project being installed.
"""

from standin.cli import main

if __name__ == "__main__":
    main()
