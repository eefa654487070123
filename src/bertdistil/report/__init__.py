"""bertdistil.report."""
