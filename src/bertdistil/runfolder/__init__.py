"""bertdistil.runfolder."""
