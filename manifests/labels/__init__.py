"""Label tables: facts about public datasets that both halves need (class renames, label maps)."""
