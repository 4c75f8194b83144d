"""The parent side: supervision, aggregation, statistics, results and sinks."""
