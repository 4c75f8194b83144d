"""What the one-way values can be trusted for, by clock mode: the cautions a result carries.

Without synchronized clocks no method can split an asymmetric path (a shift
of the agent's clock and a shift of delay from one direction to the other
change the four stamps identically), so ``estimate`` always says its split
assumes symmetric paths. ``same-host`` and ``synced`` take θ = 0 on the
user's, the hosts' clock discipline's or the kernel's word; θ̂ is measured in
every mode and checks that word: when θ = 0 lies outside θ̂ ± (its
uncertainty + the hosts' clock bound), the one-way values would be off by
about θ̂, so they are withheld and one warning says why and what to run instead.
"""

from __future__ import annotations

from engine.parent.analysis.offset import ClockMode, OffsetEstimate

NS_PER_MS = 1e6


def applied_bound_ms(mode: ClockMode, hosts_bound_ms: float | None) -> float | None:
    """How far θ may be from the 0 a mode takes: nothing on one host (one clock), the hosts' clock
    bound when synced (None: no host bound read), not applicable to estimate."""
    if mode is ClockMode.SAME_HOST:
        return 0.0
    return hosts_bound_ms if mode is ClockMode.SYNCED else None


def contradicted(mode: ClockMode, offset: OffsetEstimate | None, bound_ms: float | None) -> bool:
    """θ = 0 is in force (same-host, synced) and the run's own θ̂ refutes it beyond θ̂'s uncertainty plus
    the hosts' clock bound: the one-way values would be wrong, so they are withheld."""
    if mode is ClockMode.ESTIMATE or offset is None:
        return False
    return abs(offset.theta_ns) > offset.uncertainty_ns + (bound_ms or 0.0) * NS_PER_MS


def clock_cautions(
    mode: ClockMode,
    offset: OffsetEstimate | None,
    c2s_ms: float | None,
    s2c_ms: float | None,
    bound_ms: float | None = None,
) -> list[str]:
    out = []
    if offset is not None:
        theta, uncertainty = offset.theta_ns / NS_PER_MS, offset.uncertainty_ns / NS_PER_MS
        if mode is ClockMode.ESTIMATE:
            out.append(
                f"one-way values split the network RTT with the estimated clock offset θ̂ = {theta:+.3f} ± "
                f"{uncertainty:.3f} ms, which assumes symmetric paths: an asymmetric path is reported as symmetric"
            )
        elif contradicted(mode, offset, bound_ms):
            bound = f" and the clock bound {bound_ms:.3f} ms" if bound_ms else ""
            out.append(
                f"one-way values withheld: clock mode {mode.value} takes the agent's clock as equal to ours, but the "
                f"measured offset is θ̂ = {theta:+.3f} ± {uncertainty:.3f} ms, beyond its uncertainty{bound}; "
                "rerun with --clock-mode estimate to split the RTT with θ̂ (assuming symmetric paths)"
            )
    for name, value in (("client→server", c2s_ms), ("server→client", s2c_ms)):
        if value is not None and value < 0:
            out.append(f"mean {name} one-way value is negative ({value:.3f} ms): the clocks or the split are wrong")
    return out
