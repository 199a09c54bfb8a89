"""Cluster mode: the bundle's modules on Kubernetes (push images, render, validate, apply)."""
