"""bertdistil.models."""
