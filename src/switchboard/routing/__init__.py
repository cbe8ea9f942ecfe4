"""Skills- and customer-aware agent choice, and every read and write of the agents.

``service``: the agent router the daemon asks (``AgentRouter``); ``rank``: the pure
ranking; ``directory``: the agents in memory; ``repository``: reservations and the
agents' states in PostgreSQL; ``agents_store``: the agents as the import, the CLI,
the API, the pages and the statistics read and write them.
"""
