"""TLS to a real redis-server with a CA made here: rediss:// and REDIS_TLS, the CA, a client
certificate, and the host name verified unless REDIS_TLS_VERIFY_HOSTNAME=false."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from support.tls import TlsFiles, make_tls_files

from sidecar.backend.connection import connect
from sidecar.errors import ConfigError
from sidecar.harness.ports import free_port
from sidecar.harness.redis_server import RedisServer
from sidecar.settings import load_settings


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, a server certificate valid for `localhost` only, and a client certificate."""
    return make_tls_files(tmp_path_factory.mktemp("tls"), ("localhost",))


def tls_server(files: TlsFiles, auth_clients: str) -> tuple[RedisServer, int]:
    """A redis-server with a plain port (for its readiness check) and a TLS port."""
    tls_port = free_port()
    args = ["--tls-port", tls_port, "--tls-cert-file", files.server_cert]
    args += ["--tls-key-file", files.server_key, "--tls-ca-cert-file", files.ca]
    args += ["--tls-auth-clients", auth_clients]
    return RedisServer(extra_args=args).start(), tls_port


@pytest.fixture(scope="module")
def open_tls(tls_files: TlsFiles) -> Iterator[int]:
    """The TLS port of a server that asks no client certificate."""
    server, port = tls_server(tls_files, "no")
    yield port
    server.cleanup()


@pytest.fixture(scope="module")
def mutual_tls(tls_files: TlsFiles) -> Iterator[int]:
    """The TLS port of a server that requires a client certificate signed by the CA."""
    server, port = tls_server(tls_files, "yes")
    yield port
    server.cleanup()


def pings(**settings: object) -> bool:
    """True when a client built from `settings` gets PONG (no retries)."""
    client = connect(load_settings(REDIS_MAX_RETRIES=0, **settings))
    try:
        return bool(client.ping())
    finally:
        client.close()


def test_rediss_url_verifies_the_server_against_the_configured_ca(
    open_tls: int, tls_files: TlsFiles
) -> None:
    url = f"rediss://localhost:{open_tls}/0"
    assert pings(REDIS_URL=url, REDIS_TLS_CA_FILE=str(tls_files.ca))


def test_a_server_the_ca_did_not_sign_is_refused(open_tls: int, tmp_path: Path) -> None:
    other = make_tls_files(tmp_path, ("localhost",))
    with pytest.raises(redis.ConnectionError):
        pings(REDIS_URL=f"rediss://localhost:{open_tls}/0", REDIS_TLS_CA_FILE=str(other.ca))


def test_the_host_name_is_verified_by_default(open_tls: int, tls_files: TlsFiles) -> None:
    url = f"rediss://127.0.0.1:{open_tls}/0"  # the certificate names localhost only
    with pytest.raises(redis.ConnectionError):
        pings(REDIS_URL=url, REDIS_TLS_CA_FILE=str(tls_files.ca))
    assert pings(REDIS_URL=url, REDIS_TLS_CA_FILE=str(tls_files.ca), REDIS_TLS_VERIFY_HOSTNAME="0")


def test_redis_tls_with_host_fields_presents_the_client_certificate(
    mutual_tls: int, tls_files: TlsFiles
) -> None:
    common = {
        "REDIS_HOST": "localhost",
        "REDIS_PORT": mutual_tls,
        "REDIS_TLS": "true",
        "REDIS_TLS_CA_FILE": str(tls_files.ca),
    }
    client_cert = {
        "REDIS_TLS_CERT_FILE": str(tls_files.client_cert),
        "REDIS_TLS_KEY_FILE": str(tls_files.client_key),
    }
    assert pings(**common, **client_cert)
    with pytest.raises(redis.ConnectionError):
        pings(**common)


def test_redis_tls_turns_a_redis_url_into_tls(mutual_tls: int, tls_files: TlsFiles) -> None:
    assert pings(
        REDIS_URL=f"redis://localhost:{mutual_tls}/0",
        REDIS_TLS="true",
        REDIS_TLS_CA_FILE=str(tls_files.ca),
        REDIS_TLS_CERT_FILE=str(tls_files.client_cert),
        REDIS_TLS_KEY_FILE=str(tls_files.client_key),
    )


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(REDIS_TLS_CERT_FILE="/c.crt")
    assert caught.value.problems == [
        "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together (a client certificate)"
    ]
