"""identity: tenants, users, roles, password login, RS256 access tokens, rotated refresh tokens, JWKS."""
