"""The non-identifying facts statistics count, taken from a referral when it is written."""

from datetime import date

from referral.domain.vocabulary import N_, ConcernType

# Age at referral, in bands wide enough to name nobody. (lower bound, label), ascending.
AGE_BANDS: tuple[tuple[int, str], ...] = (
    (0, N_("under 12")),
    (12, "12-14"),
    (15, "15-17"),
    (18, "18-24"),
    (25, "25-39"),
    (40, N_("40 and over")),
)
UNKNOWN = N_("unknown")
AGE_BAND_LABELS: tuple[str, ...] = (*(label for _, label in AGE_BANDS), UNKNOWN)

# One bit per concern type, in the fixed list's order; a new type takes the next bit, so
# the bits of cases already counted keep their meaning.
CONCERN_BITS: dict[str, int] = {str(kind): 1 << i for i, kind in enumerate(ConcernType)}


def age_band(date_of_birth: date | None, on: date) -> str:
    """The band of the age the person had on `on`; `unknown` without a date of birth."""
    if date_of_birth is None or date_of_birth > on:
        return UNKNOWN
    age = (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    )
    label = UNKNOWN
    for lower, name in AGE_BANDS:
        if age >= lower:
            label = name
    return label


def concern_mask(concern_types: list[str] | tuple[str, ...]) -> int:
    mask = 0
    for kind in concern_types:
        mask |= CONCERN_BITS.get(kind, 0)
    return mask


def quarter_of(year: int, month: int) -> str:
    return f"{year}-Q{(month - 1) // 3 + 1}"
