"""metrics' errors, rendered as problem+json by the shared handlers (none of its own: a reversed period
is the shared `ReversedRange`)."""
