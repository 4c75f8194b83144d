"""Starting and stopping what a run needs: the agent handshake, workers, an embedded agent, the whole run."""
