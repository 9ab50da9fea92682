"""A tenant's privacy settings as engagement applies them: retention of messages, consent keywords."""
