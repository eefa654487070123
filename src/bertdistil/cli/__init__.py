"""bertdistil.cli."""
