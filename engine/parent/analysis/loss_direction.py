"""Which way each lost ping died: ``upstream`` (it never reached the agent), ``downstream`` (the agent
answered; the pong never came back in time) or ``unknown``.

The agent's final set of received seqs (/disconnect) decides when the runner has it; where it does not
(no reply, a legacy agent, a set the agent stopped keeping) the worker's reading of the pongs' running
counts does (engine/worker/session.py, ``lost_directions``); else the direction is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

from ipc.received import contains

DIRECTIONS = ("upstream", "downstream", "unknown")


def loss_directions(
    lost: Sequence[int],
    agent_received: tuple[list[tuple[int, int]], bool] | None,
    counted_up: Sequence[int] = (),
    counted_down: Sequence[int] = (),
) -> list[str]:
    """One direction per seq of ``lost``. ``agent_received``: (sorted inclusive ranges, complete)."""
    up, down = set(counted_up), set(counted_down)
    guess = ["upstream" if s in up else "downstream" if s in down else "unknown" for s in lost]
    if agent_received is None:
        return guess
    ranges, complete = agent_received
    held = contains(ranges, lost)
    return ["downstream" if h else "upstream" if complete else g for h, g in zip(held, guess, strict=True)]
