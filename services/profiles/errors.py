"""profiles' errors, rendered as problem+json."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, ProblemError, Unprocessable


class ProfileNotFound(NotFound):
    type = "https://rapport.dev/problems/profile-not-found"


class ProfileMerged(Conflict):
    """The profile was merged into another one already: it takes part in no further merge and is not
    edited (edit the survivor, `merged_into`)."""

    type = "https://rapport.dev/problems/profile-merged"


class AttributeNotFound(NotFound):
    type = "https://rapport.dev/problems/attribute-not-found"


class AttributeExists(Conflict):
    type = "https://rapport.dev/problems/attribute-exists"


class AttributeInvalid(Unprocessable):
    """A custom attribute's value does not fit its definition, or no such attribute is defined."""

    type = "https://rapport.dev/problems/attribute-invalid"


class TagsInvalid(Unprocessable):
    type = "https://rapport.dev/problems/tags-invalid"


class SegmentNotFound(NotFound):
    type = "https://rapport.dev/problems/segment-not-found"


class SegmentRuleInvalid(Unprocessable):
    """A segment rule that does not parse; `errors[0].position` points at the problem."""

    type = "https://rapport.dev/problems/segment-rule-invalid"


class OrderConflict(Conflict):
    """An order id the tenant already posted, now with another amount, currency, time or profile."""

    type = "https://rapport.dev/problems/order-conflict"


class ImportTooLarge(ProblemError):
    status = 413
    type = "https://rapport.dev/problems/import-too-large"


class UnsupportedImportType(ProblemError):
    status = 415
    type = "https://rapport.dev/problems/unsupported-import-type"


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
