"""metrics' logic: the only writers of its table."""
