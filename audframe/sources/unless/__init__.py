"""Unless audiences."""
