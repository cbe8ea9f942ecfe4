"""Skills- and customer-aware agent choice: a pure ranking and its repository."""
