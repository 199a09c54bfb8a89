"""The install engine: plan, gates, apply, state — for any module a spec describes."""
