"""Entry modules (`python -m cog.server.http`) that hand over to cogkit's runtime."""
