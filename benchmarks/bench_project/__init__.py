"""The Django project the benchmark runs: one ``bench`` app, server and client settings."""
