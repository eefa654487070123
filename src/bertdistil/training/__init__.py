"""bertdistil.training."""
