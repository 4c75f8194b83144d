"""Clocks as every process reads them: anchors and the boot id, and the bound each host's clock discipline gives (ClockBound, chrony, adjtimex)."""
