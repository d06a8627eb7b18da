"""Tests of bridge.model (a package, so its module names cannot clash with tests/source/)."""
