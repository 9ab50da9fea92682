"""profiles' errors, rendered as problem+json."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, Unprocessable


class ProfileNotFound(NotFound):
    type = "https://rapport.dev/problems/profile-not-found"


class ProfileMerged(Conflict):
    """The profile was merged into another one already: it takes part in no further merge."""

    type = "https://rapport.dev/problems/profile-merged"


class SameProfile(Conflict):
    type = "https://rapport.dev/problems/same-profile"


class IdentifierTaken(Conflict):
    """The identifier belongs to another profile, by a link not strong enough to merge the two."""

    type = "https://rapport.dev/problems/identifier-taken"


class IdentifierNotOnProfile(Unprocessable):
    type = "https://rapport.dev/problems/identifier-not-on-profile"


class InvalidIdentifierValue(Unprocessable):
    type = "https://rapport.dev/problems/invalid-identifier"


class SuggestionNotFound(NotFound):
    type = "https://rapport.dev/problems/match-suggestion-not-found"


class SuggestionDecided(Conflict):
    type = "https://rapport.dev/problems/match-suggestion-decided"
