"""The measurement core: ``engine.worker`` measures in one process per platform, ``engine.parent`` supervises and analyses, ``engine.impair`` impairs a path on purpose."""
