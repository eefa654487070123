"""bertdistil.evaluation."""
