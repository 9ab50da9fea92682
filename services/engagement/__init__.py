"""engagement: agents, conversations and messages opened from actionable mentions."""
