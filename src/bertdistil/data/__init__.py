"""bertdistil.data."""
