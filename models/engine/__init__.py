"""Engine: train, resume, evaluate, infer and launch runs; one engine for the UI, the CLI and the tests."""
