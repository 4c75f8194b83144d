"""The ICE candidates of an SDP: reading their address and pointing them elsewhere, without aiortc.

An impairment proxy between two WebRTC peers must be the only address either
learns for the other: each side's candidates are rewritten to the proxy's
socket facing it, so ICE's checks, DTLS and SCTP all pass through the proxy.
"""

from __future__ import annotations

#: ``a=candidate:foundation component transport priority address port typ ...``
_ADDRESS, _PORT = 4, 5


def candidate_addresses(sdp: str) -> list[tuple[str, int]]:
    """(address, port) of every UDP ``a=candidate`` line, in order."""
    out = []
    for line in sdp.splitlines():
        fields = line.split()
        if line.startswith("a=candidate:") and len(fields) > _PORT and fields[2].lower() == "udp":
            out.append((fields[_ADDRESS], int(fields[_PORT])))
    return out


def rewrite_candidates(sdp: str, host: str, port: int) -> str:
    """The SDP with every UDP candidate (and the media line's connection address and port) at ``host:port``."""
    lines = []
    for line in sdp.split("\r\n"):
        fields = line.split(" ")
        if line.startswith("a=candidate:") and len(fields) > _PORT and fields[2].lower() == "udp":
            fields[_ADDRESS], fields[_PORT] = host, str(port)
            line = " ".join(fields)
        elif line.startswith("c=IN IP4 "):
            line = f"c=IN IP4 {host}"
        elif line.startswith("m=") and len(fields) > 1:
            fields[1] = str(port)
            line = " ".join(fields)
        lines.append(line)
    return "\r\n".join(lines)
