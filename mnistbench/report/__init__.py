"""Human-readable views of results: console tables and the algorithm list."""
