"""`vmae corpus view`: a read-only local web viewer of corpus folders (server.py says how)."""
