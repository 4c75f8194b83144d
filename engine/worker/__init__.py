"""The worker side: one process per platform that sends, receives, stamps and forwards.

Nothing here imports numpy, the sinks, the CLI or the parent side: a worker
maps only what it measures with.
"""
