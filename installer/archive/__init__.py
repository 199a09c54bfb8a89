"""Leaf utilities for archives: regular-file reads, zstd/sha256 streams, the tar guard. Imports nothing above it."""
