"""A worker module that is an HTTPS client (tests/test_review_r11_libattack.py): its
context, and so the CA bundle, is loaded at import, before the worker pledges."""

from __future__ import annotations

import socket
import ssl

CONTEXT = ssl.create_default_context()


def handshake(port: int) -> str:
    """Connect to 127.0.0.1:*port* and verify it as "localhost": how it ended."""
    try:
        with socket.create_connection(("127.0.0.1", port)) as raw:
            CONTEXT.wrap_socket(raw, server_hostname="localhost").close()
    except ssl.SSLCertVerificationError as exc:
        return f"refused: {exc.verify_message}"
    return "verified"
