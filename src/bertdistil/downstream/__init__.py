"""bertdistil.downstream."""
