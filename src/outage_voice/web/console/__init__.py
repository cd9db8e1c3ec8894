"""The supervisor console: server-rendered pages over the JSON API, at /dashboard."""
