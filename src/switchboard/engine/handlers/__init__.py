"""The engine's transitions, by feature: each module's functions are the handlers
``engine.table`` maps (phase, trigger) pairs to, and the steps they share."""
