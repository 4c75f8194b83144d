"""The echo agent: HTTP control plane plus one echo endpoint per session."""

#: The first line on stdout once serving; a launcher (the runner's embedded agent, tests) reads it to learn the port.
READY_PREFIX = "echo-agent listening on "
