"""Host facts: each read once per host per run, parsed into typed values, shared by every consumer."""
