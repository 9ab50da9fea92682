"""A tenant's privacy settings as listening applies them: the retention period and its sweep."""
