"""What the one-way values can be trusted for, by clock mode: the cautions a result carries.

Without synchronized clocks no method can split an asymmetric path (a shift
of the agent's clock and a shift of delay from one direction to the other
change the four stamps identically), so ``estimate`` always says its split
assumes symmetric paths. ``same-host`` and ``synced`` take θ = 0 on the
user's or the kernel's word; θ̂ is measured in every mode and checks that
word: when θ = 0 lies outside θ̂ ± its uncertainty, the one-way values are
off by about θ̂ and the result says so.
"""

from __future__ import annotations

from engine.parent.analysis.offset import ClockMode, OffsetEstimate

NS_PER_MS = 1e6


def clock_cautions(
    mode: ClockMode, offset: OffsetEstimate | None, c2s_ms: float | None, s2c_ms: float | None
) -> list[str]:
    out = []
    if offset is not None:
        theta, uncertainty = offset.theta_ns / NS_PER_MS, offset.uncertainty_ns / NS_PER_MS
        if mode is ClockMode.ESTIMATE:
            out.append(
                f"one-way values split the network RTT with the estimated clock offset θ̂ = {theta:+.3f} ± "
                f"{uncertainty:.3f} ms, which assumes symmetric paths: an asymmetric path is reported as symmetric"
            )
        elif abs(theta) > uncertainty:
            out.append(
                f"clock mode {mode.value} takes the agent's clock as equal to ours, but the measured offset is "
                f"θ̂ = {theta:+.3f} ± {uncertainty:.3f} ms: the one-way values are off by about {abs(theta):.3f} ms"
            )
    for name, value in (("client→server", c2s_ms), ("server→client", s2c_ms)):
        if value is not None and value < 0:
            out.append(f"mean {name} one-way value is negative ({value:.3f} ms): the clocks or the split are wrong")
    return out
