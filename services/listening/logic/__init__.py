"""listening's domain logic: the only writers of its tables."""
