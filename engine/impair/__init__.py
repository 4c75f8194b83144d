"""An impairment proxy: a user-space UDP relay that delays, drops, duplicates and reorders datagrams
on a seeded schedule and logs what it did to each one, so results can be checked against the truth.

Kernel netem would do the impairing but not the logging, and needs modules this
project's machines lack; here ``spec`` parses what the user asks for,
``schedule`` decides each datagram's fate, ``relay`` moves the bytes,
``truth`` writes and reads the log, ``process`` runs the relay.
"""
