"""The library every Rapport service shares: settings, db, errors, auth, events, telemetry."""
