"""Models: config, builders, training engine, inference and export."""
