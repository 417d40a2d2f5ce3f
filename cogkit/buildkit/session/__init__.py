"""The session server BuildKit calls back into: file sync, secrets, registry auth, health (h2 gRPC)."""
