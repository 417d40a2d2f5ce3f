"""Test-only DNS: names in $COGKIT_TEST_FAKE_DNS ("name=address,...") resolve to the given address.

Put on PYTHONPATH of a server process, it answers at the lowest layer (socket.getaddrinfo), so the
server's real resolver chain (aiohttp's resolver wrapped by the network policy) is what is tested,
without /etc/hosts edits or any traffic to a DNS server.
"""

import os
import socket

_spec = os.environ.get("COGKIT_TEST_FAKE_DNS", "")
_table = dict(item.split("=", 1) for item in _spec.split(",") if "=" in item)
if _table:
    _real = socket.getaddrinfo

    def _fake(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's own names
        name = host.decode() if isinstance(host, bytes) else host
        if name in _table:
            host = _table[name]
        return _real(host, port, family, type, proto, flags)

    socket.getaddrinfo = _fake
