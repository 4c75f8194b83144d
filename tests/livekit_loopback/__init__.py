"""A data-only LiveKit server for tests: the real ``livekit`` SDK joins it, no cloud needed.

It speaks LiveKit's signalling (protobuf over WebSocket, tokens checked with
livekit-api) and terminates each participant's peer connection in aiortc,
relaying data packets between participants. No media, no SFU routing, no
persistence: enough to run the LiveKit transport and echo agent end to end.
Run it with ``python -m tests.livekit_loopback --host ADDR --port N`` and the
key/secret in ``LIVEKIT_API_KEY``/``LIVEKIT_API_SECRET``.
"""

#: The server's first stdout line, and its last (JSON) on the way out.
READY_PREFIX = "listening on "
STATS_PREFIX = "stats "
