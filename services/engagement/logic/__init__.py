"""engagement's logic: the only writers of its tables."""
