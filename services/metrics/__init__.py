"""metrics: event-sourced daily counters and the Social CRM scorecard."""
