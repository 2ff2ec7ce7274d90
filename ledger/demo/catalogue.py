"""The demo company's world: segments and their buying habits, partners, personas, people, names.

Every figure here is a plausible value for a US health-tech vendor selling clinical software to
health systems, clinics, payers and life-sciences companies; the generator draws from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

CURRENCY = "USD"
TIMEZONE = "America/New_York"
FISCAL_YEAR_START_MONTH = 1
REVOPS = "dana.whitfield"
"""The revenue-operations lead: configuration, quotas, forecast calls and corrections."""
CUSTOMER_SUCCESS = ("noah.kim", "grace.liu", "omar.haddad")
"""Customer success managers: they record go-lives, expansions, contractions and churn."""


@dataclass(frozen=True, slots=True)
class Segment:
    """How one market segment buys: deal sizes, cycle, win rate, security and post-sale habits.

    `arr` is a (low, mode, high) triangle in dollars; `cycle` multiplies the stage durations;
    `frameworks` weighs the security questionnaire a buyer asks for (None: no review);
    `go_live_days` bounds the implementation lag; `churn` is the chance of leaving at a renewal.
    """

    name: str
    weight: float
    arr: tuple[int, int, int]
    cycle: float
    win_rate: float
    frameworks: tuple[tuple[str | None, float], ...]
    baa_rate: float
    standard_terms_rate: float
    go_live_days: tuple[int, int]
    churn: float
    partners: tuple[str, ...]
    partner_share: float
    personas: tuple[str, ...]
    owners: tuple[str, ...]
    skips_clinical_validation: float


SEGMENTS: tuple[Segment, ...] = (
    Segment(
        name="health_system",
        weight=0.34,
        arr=(90_000, 220_000, 650_000),
        cycle=1.3,
        win_rate=0.42,
        frameworks=(("hitrust", 0.55), ("hecvat", 0.25), ("custom", 0.15), (None, 0.05)),
        baa_rate=0.97,
        standard_terms_rate=0.25,
        go_live_days=(60, 200),
        churn=0.05,
        partners=("epic", "oracle_health"),
        partner_share=0.3,
        personas=("cmio", "cio", "cno", "it_security", "cfo", "procurement", "legal"),
        owners=("maria.chen", "james.okafor", "priya.raman"),
        skips_clinical_validation=0.05,
    ),
    Segment(
        name="clinic",
        weight=0.32,
        arr=(18_000, 36_000, 90_000),
        cycle=0.95,
        win_rate=0.5,
        frameworks=(("soc2", 0.55), ("custom", 0.1), (None, 0.35)),
        baa_rate=0.95,
        standard_terms_rate=0.8,
        go_live_days=(14, 60),
        churn=0.12,
        partners=("athenahealth", "nextgen"),
        partner_share=0.35,
        personas=("medical_director", "practice_manager", "clinical_champion", "cfo"),
        owners=("lena.fischer", "tom.reyes"),
        skips_clinical_validation=0.5,
    ),
    Segment(
        name="payer",
        weight=0.16,
        arr=(120_000, 300_000, 800_000),
        cycle=1.25,
        win_rate=0.4,
        frameworks=(("hitrust", 0.7), ("soc2", 0.2), ("custom", 0.1)),
        baa_rate=0.9,
        standard_terms_rate=0.15,
        go_live_days=(45, 160),
        churn=0.06,
        partners=("change_healthcare",),
        partner_share=0.15,
        personas=("cmo", "vp_clinical_ops", "it_security", "cfo", "procurement", "legal"),
        owners=("raj.patel",),
        skips_clinical_validation=0.3,
    ),
    Segment(
        name="life_sciences",
        weight=0.18,
        arr=(60_000, 140_000, 400_000),
        cycle=1.05,
        win_rate=0.45,
        frameworks=(("soc2", 0.65), ("custom", 0.25), (None, 0.1)),
        baa_rate=0.35,
        standard_terms_rate=0.3,
        go_live_days=(30, 110),
        churn=0.08,
        partners=("veeva", "iqvia"),
        partner_share=0.25,
        personas=("vp_clinical_ops", "medical_director", "it_security", "procurement", "legal"),
        owners=("sofia.marin", "ethan.cole"),
        skips_clinical_validation=0.2,
    ),
)

QUESTIONNAIRE_DAYS: dict[str, tuple[int, int, int]] = {
    "hitrust": (45, 90, 150),
    "hecvat": (25, 45, 90),
    "soc2": (20, 35, 70),
    "custom": (20, 40, 80),
}
"""How long a security questionnaire takes, (low, mode, high) days, by framework."""

STAGE_DAYS: dict[str, tuple[int, int, int]] = {
    "qualification": (10, 20, 45),
    "discovery": (20, 40, 80),
    "demo": (20, 40, 75),
    "clinical_validation": (25, 45, 100),
    "legal_review": (20, 45, 95),
    "negotiation": (14, 30, 70),
}
"""Days a deal usually spends in each stage, (low, mode, high), before the segment's factor;
`security_review` lasts as long as its questionnaire plus some slack."""

LOSS_STAGES: tuple[tuple[str, float], ...] = (
    ("qualification", 0.28),
    ("discovery", 0.24),
    ("demo", 0.18),
    ("clinical_validation", 0.12),
    ("security_review", 0.1),
    ("legal_review", 0.05),
    ("negotiation", 0.03),
)
"""Where lost deals are lost."""

LOSS_REASONS: tuple[str, ...] = (
    "no decision: budget frozen for the fiscal year",
    "chose the EHR vendor's bundled module",
    "chose a competitor on price",
    "security review not passed in time",
    "clinical champion left the organisation",
    "project deprioritised after a merger",
    "could not agree on BAA terms",
)


def pick(rng: Random, weighted: tuple[tuple[str | None, float], ...]) -> str | None:
    """Return one value of `weighted` (value, weight) pairs, drawn by weight."""
    values = [v for v, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(values, weights)[0]


def triangle(rng: Random, low_mode_high: tuple[int, int, int], factor: float = 1.0) -> float:
    """Return a draw from the triangular distribution (low, mode, high), times `factor`."""
    low, mode, high = low_mode_high
    return rng.triangular(low, high, mode) * factor


_PLACES = (
    "Lakeside", "Riverbend", "Cedar Valley", "Summit", "Bayview", "Pinecrest", "Harborview",
    "Prairie", "Northfield", "Westbrook", "Silver Lake", "Maple Grove", "Clearwater", "Highland",
    "Brookside", "Fairview", "Granite", "Oak Ridge", "Redwood", "Stonebridge", "Willow Creek",
    "Eastgate", "Meadowbrook", "Hillcrest", "Sandpoint", "Bluewater", "Kingsport", "Ashford",
    "Glenwood", "Crescent", "Elmhurst", "Foxborough", "Lakeshore", "Mesa Verde", "Northgate",
    "Parkside", "Ridgeview", "Seaside", "Timberline", "Whitestone", "Canyon", "Evergreen",
    "Heritage", "Ironwood", "Juniper", "Laurel", "Magnolia", "Sierra", "Tidewater", "Wildwood",
)  # fmt: skip
_SAINTS = (
    "St. Luke's", "St. Mary's", "St. Joseph's", "Mercy", "Providence", "Good Samaritan",
    "Sacred Heart", "Trinity", "St. Vincent's", "Holy Cross",
)  # fmt: skip
_NAME_FORMS: dict[str, tuple[str, ...]] = {
    "health_system": (
        "{place} Health", "{place} Regional Medical Center", "{saint} {place}",
        "{place} Health System", "{place} University Hospitals",
    ),
    "clinic": (
        "{place} Family Medicine", "{place} Pediatrics", "{place} Orthopedics",
        "{place} Cardiology Associates", "{place} Women's Health", "{place} Dermatology",
        "{place} Primary Care",
    ),
    "payer": ("{place} Health Plan", "{place} Community Care Plan", "{place} Medicaid Partners"),
    "life_sciences": (
        "{bio} Therapeutics", "{bio} Biosciences", "{bio} Pharma", "{bio} Clinical Research",
        "{bio} Diagnostics", "{bio} Genomics", "{bio} Medical", "{bio} Labs",
    ),
}  # fmt: skip
_REGIONS = ("North", "South", "East", "West", "Central", "Coastal")
_BIO = (
    "Novara", "Helixa", "Cardinalis", "Vireo", "Lumena", "Axion", "Solvera", "Cerulean",
    "Orbis", "Kestrel", "Aurelia", "Genova", "Meridian", "Tessera", "Veridian", "Zephyr",
    "Altus", "Calyx", "Nexum", "Quanta",
)  # fmt: skip


def account_name(rng: Random, segment: str, taken: set[str]) -> str:
    """Return a new organisation name for `segment`, unused so far (it joins `taken`)."""
    forms = _NAME_FORMS[segment]
    name = rng.choice(forms).format(
        place=rng.choice(_PLACES), saint=rng.choice(_SAINTS), bio=rng.choice(_BIO)
    )
    base, n = name, 1
    while name in taken:
        name = f"{base} {_REGIONS[n % len(_REGIONS)]}" + (f" {n}" if n >= len(_REGIONS) else "")
        n += 1
    taken.add(name)
    return name


def account_id(name: str) -> str:
    """Return the account id of an organisation name: lower-case words joined by hyphens."""
    kept = "".join(c if c.isalnum() else " " for c in name.lower().replace("'", ""))
    return "-".join(kept.split())
