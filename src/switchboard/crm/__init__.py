"""The CRM: customers and agents imported from files (``switchboard import``).

``importer`` reads and validates the files (pure); ``store`` writes them to
PostgreSQL in one transaction. The formats are described in docs/crm.md.
"""

from switchboard.crm.importer import read_agents_csv, read_agents_yaml, read_customers
from switchboard.crm.rows import Agent, AgentFile, Customer, RejectedImport, Site
from switchboard.safeyaml import Problem

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
