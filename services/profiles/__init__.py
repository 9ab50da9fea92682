"""profiles: unified customer profiles built from mentions, with their handles and timeline."""
