"""bertdistil.deploy."""
