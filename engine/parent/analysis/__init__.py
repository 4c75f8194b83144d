"""Numbers from samples: the live aggregator, HDR histograms, statistics, the clock offset, what is plausible."""
