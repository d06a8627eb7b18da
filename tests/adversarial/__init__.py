"""Adversarial tests: the bridge under hostile input, broken dependencies and leaked secrets."""
