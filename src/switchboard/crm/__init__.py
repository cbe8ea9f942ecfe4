"""The CRM: customers and agents imported from files (``switchboard import``).

``importer`` reads and validates the files (pure); ``store`` writes them to
PostgreSQL in one transaction. The formats are described in docs/crm.md.
"""

from switchboard.crm.importer import (
    Agent,
    AgentFile,
    Customer,
    Problem,
    RejectedImport,
    Site,
    read_agents_csv,
    read_agents_yaml,
    read_customers,
)

__all__ = [
    "Agent",
    "AgentFile",
    "Customer",
    "Problem",
    "RejectedImport",
    "Site",
    "read_agents_csv",
    "read_agents_yaml",
    "read_customers",
]
