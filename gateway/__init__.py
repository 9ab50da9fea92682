"""The Rapport API gateway: the only public entry, in front of the five services."""
