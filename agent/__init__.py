"""The echo agent: HTTP control plane plus one echo endpoint per session."""
