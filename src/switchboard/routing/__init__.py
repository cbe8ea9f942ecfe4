"""Skills- and customer-aware agent choice.

``service``: the agent router the daemon asks (``AgentRouter``); ``rank``: the pure
ranking; ``directory``: the agents in memory; ``repository``: reservations and the
agents' states in PostgreSQL.
"""
