"""The HTTP code every source shares: client, retries, transport, auth and secrets."""
