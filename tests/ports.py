"""Free loopback ports for tests that start servers on fixed ports."""

from __future__ import annotations

import socket


def free_port_run(count: int = 1) -> int:
    """A port P such that P..P+count-1 are all free right now (the Pinecone emulator binds
    its control plane on P and index i on P+1+i)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for offset in range(count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return base
    raise RuntimeError("no run of free ports")
