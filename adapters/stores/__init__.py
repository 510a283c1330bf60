"""The stores behind the engine's ports: MongoDB (surveys, responses), Redis (sessions, locks, handled
updates), and the same ports in memory for unit tests and benchmarks; one contract suite tests all."""
