"""bertdistil.pipeline."""
