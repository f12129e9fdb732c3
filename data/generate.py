"""Write the sandbox's sample data: one Thrive tenant and two Unless websites.

Deterministic (one seeded ``random.Random``, no clock, no set iteration) and stdlib only, so
``python data/generate.py`` rewrites every file byte for byte. The problems an audit must find
are planted at fixed places and listed in ``data/README.md``; everything else is kept healthy on
purpose (unique references and names, weights summing to 100, live audiences enabled, ...).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = 20_240_611

THRIVE_TENANT_ID = "eu-west-2_AudFrmSbx"
UNLESS_ACCOUNT_ID = "6b0f3c52-1d7e-4a8b-9c3f-2e5d7a1b4c60"
# website id -> (label, number of audiences)
UNLESS_WEBSITES = {
    "0c9a7e21-5b3d-4f6a-8e1c-7d2b9f4a6e13": ("shop", 164),
    "d4e8b1f7-2a6c-4d9e-b3a5-1f7c8e2d0b94": ("blog", 127),
}

Record = dict[str, Any]
DASH = "\u2013"  # names use an en dash, as people type them in UIs


# --------------------------------------------------------------------------------------------
# Thrive
# --------------------------------------------------------------------------------------------

# (structure name, reference slug, api controlled, child name pool A, pool B, children)
# fmt: off
STRUCTURES: list[tuple[str, str, bool, list[str], list[str], int]] = [
    ("Departments", "departments", True, ["Sales", "Marketing", "Finance", "Legal", "IT", "HR",
     "Operations", "Support", "Product", "Engineering"], ["Team", "Leads", "Managers", "All"], 40),
    ("Locations", "locations", True, ["London", "Paris", "Zürich", "São Paulo", "Kraków",
     "Reykjavík", "東京", "Αθήνα", "München", "Montréal", "Dublin", "Lisboa"],
     ["Office", "Remote", "Warehouse", "Store"], 48),
    ("Job families", "job-families", True, ["Engineering", "Design", "Data", "Sales",
     "Customer Success", "Finance", "People"], ["I", "II", "III", "IV", "Principal"], 35),
    ("Grades", "grades", True, [f"G{i}" for i in range(1, 16)], ["Band A", "Band B"], 30),
    ("Cost centres", "cost-centres", True, [f"CC-{i:03d}" for i in range(100, 400, 7)],
     ["Opex", "Capex"], 80),
    ("Workday org units", "workday-org", True, ["EMEA", "APAC", "AMER", "LATAM", "ANZ"],
     [f"Unit {i}" for i in range(1, 60)], 290),
    ("Cohorts 2024", "cohorts-2024", True, ["January", "February", "March", "April", "May",
     "June", "July", "August", "September", "October", "November", "December"],
     ["Graduates", "Apprentices", "Interns", "Returners"], 48),
    ("Cohorts 2025", "cohorts-2025", True, ["Q1", "Q2", "Q3", "Q4"],
     ["Graduates", "Apprentices", "Interns", "Returners", "Leaders"], 20),
    ("Projects", "projects", True, ["Apollo", "Borealis", "Cygnus", "Draco", "Eos", "Fenix",
     "Gaia", "Helios", "Io", "Juno"], ["Core", "Extended", "Sponsors", "Alumni"], 40),
    ("Languages", "languages", True, ["English", "Français", "Deutsch", "Español", "日本語",
     "中文", "Português", "Polski", "العربية", "हिन्दी"], ["Speakers", "Learners"], 20),
    ("Compliance", "compliance", True, ["GDPR", "SOX", "ISO 27001", "HIPAA", "PCI DSS",
     "Anti-bribery", "Modern slavery"], ["In scope", "Owners", "Reviewers", "Exempt"], 28),
    ("Managers", "managers", True, ["First-line", "Middle", "Senior", "Executive"],
     [f"Programme {i}" for i in range(1, 20)], 76),
    ("Contractors", "contractors", True, ["Agency", "Freelance", "Fixed-term"],
     ["UK", "EU", "US", "APAC"], 12),
    ("Équipes France", "equipes-france", True, ["Ventes", "Marketing", "Finance", "Juridique",
     "Opérations", "Service client"], ["Paris", "Lyon", "Nantes", "Lille", "Marseille"], 30),
    ("Standorte Deutschland", "standorte-de", True, ["Berlin", "Hamburg", "Köln", "Düsseldorf",
     "Stuttgart", "Nürnberg"], ["Vertrieb", "Lager", "Verwaltung"], 18),
    ("日本チーム", "japan-teams", True, ["東京", "大阪", "名古屋", "福岡", "札幌"],
     ["営業", "開発", "人事", "総務"], 20),
    ("销售团队", "china-sales", True, ["北京", "上海", "深圳", "广州", "成都"],
     ["一组", "二组", "三组"], 15),
    ("🚀 Launch squads", "launch-squads", True, ["🚀 Alpha", "🛰️ Beta", "🌙 Gamma", "⭐ Delta",
     "☄️ Epsilon"], ["Crew", "Ground control", "Observers"], 15),
    ("Payroll groups", "payroll", True, ["Monthly", "Weekly", "Fortnightly"],
     ["UK", "IE", "FR", "DE", "NL", "ES", "IT"], 21),
    ("Tenure bands", "tenure", True, ["0-6 months", "6-12 months", "1-2 years", "2-5 years",
     "5-10 years", "10+ years"], ["Staff", "Managers"], 12),
    ("Safety training", "safety", True, ["Forklift", "First aid", "Fire warden",
     "Working at height", "Manual handling", "Electrical"], ["Certified", "Due", "Overdue"], 18),
    ("Learning paths", "learning-paths", False, ["Python", "SQL", "Leadership", "Negotiation",
     "Public speaking", "Excel", "Data literacy", "Cloud", "Security awareness", "Coaching"],
     ["Beginners", "Intermediate", "Advanced", "Mentors"], 40),
    ("Interest groups", "interest-groups", False, ["Running club", "Book club", "Chess",
     "Photography", "Cooking", "Gardening", "Board games", "Music", "Cinéma", "Yoga"],
     ["Members", "Organisers"], 20),
    ("Employee networks", "networks", False, ["Women in Tech", "Pride", "Parents", "Veterans",
     "Neurodiversity", "Early careers", "Mental health", "Carers"],
     ["Members", "Allies", "Leads"], 24),
    ("Smart: engagement", "smart-engagement", False, ["Active last 7 days",
     "Active last 30 days", "Inactive 90 days", "Never logged in", "Top contributors",
     "Commenters"], ["All", "Managers", "New joiners"], 18),
    ("Smart: completion", "smart-completion", False, ["Compliance complete",
     "Compliance overdue", "Onboarding complete", "Onboarding stalled"],
     ["EMEA", "APAC", "AMER"], 12),
    ("Skills", "skills", False, ["Python", "Java", "Go", "Rust", "TypeScript", "Kotlin", "Swift",
     "C#", "Scala", "Elixir", "Haskell", "R"], ["Novice", "Practitioner", "Expert"], 36),
    ("Mentoring", "mentoring", False, ["Mentors", "Mentees", "Reverse mentors"],
     [f"Circle {i}" for i in range(1, 30)], 85),
    ("Events 2025", "events-2025", False, ["Kick-off", "Hackathon", "Town hall", "Summit",
     "Offsite", "Awards"], ["Attendees", "Speakers", "Volunteers", "Waitlist"], 24),
    ("Regional hubs", "regional-hubs", False, ["North", "South", "East", "West", "Central"],
     [f"Hub {i}" for i in range(1, 60)], 280),
    ("Customer academy", "customer-academy", False, ["Partners", "Resellers", "Customers",
     "Prospects"], ["Bronze", "Silver", "Gold", "Platinum"], 16),
    ("Wellbeing", "wellbeing", False, ["Sleep", "Nutrition", "Movement", "Mindfulness",
     "Finances"], ["Challenge", "Champions"], 10),
    ("Café & culture", "cafe-culture", False, ["Café crème", "Smørrebrød", "Fika", "Tapas",
     "Dim sum", "Mezze"], ["Fans", "Hosts"], 12),
    ("Volunteering", "volunteering", False, ["Schools", "Food banks", "Shelters",
     "Environment", "Mentoring"], ["Volunteers", "Coordinators"], 10),
    ("Sales enablement", "sales-enablement", False, ["Discovery", "Demo", "Objections",
     "Closing", "Renewals", "Upsell"], ["AEs", "SDRs", "CSMs", "Managers"], 24),
    ("Legacy LMS import", "legacy-lms", False, ["Course", "Module", "Path"],
     [f"#{i}" for i in range(1, 400)], 1150),
    ("Pilot groups", "pilots", False, ["AI assistant", "New search", "Mobile app",
     "Dark mode"], ["Wave 1", "Wave 2", "Wave 3"], 12),
    ("Leadership programme", "leadership", False, ["Emerging", "Established", "Executive"],
     [f"Cohort {i}" for i in range(1, 25)], 60),
    ("Graduate scheme", "graduates", False, ["Tech", "Finance", "Marketing", "Operations"],
     ["2023", "2024", "2025", "2026"], 16),
    ("Archive", "archive", False, ["Old team", "Old project", "Old cohort"],
     [f"{y}" for y in range(2015, 2023)], 20),
]
# fmt: on

# Offsets a tenant's timestamps come with: mostly UTC "Z", some "+01:00" (UK/CET summer
# exports), a few others so parsers cannot assume a single offset.
TZ_OFFSETS = [timedelta(0), timedelta(hours=1), timedelta(hours=-5), timedelta(hours=5, minutes=30)]


def thrive_time(rng: random.Random, instant: datetime) -> str:
    """An ISO-8601 text for ``instant`` in one of the forms the API may use."""
    style = rng.random()
    ms = rng.random() < 0.5
    if style < 0.6:
        text = instant.strftime("%Y-%m-%dT%H:%M:%S")
        if ms:
            text += f".{instant.microsecond // 1000:03d}"
        return text + "Z"
    offset = TZ_OFFSETS[1] if style < 0.9 else rng.choice(TZ_OFFSETS)
    local = instant.astimezone(timezone(offset))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if ms:
        text += f".{local.microsecond // 1000:03d}"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def object_id(rng: random.Random, created: datetime) -> str:
    """A MongoDB ObjectId shape: 4 bytes of creation seconds, then 8 random bytes."""
    return f"{int(created.timestamp()):08x}{rng.getrandbits(64):016x}"


def random_instant(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A millisecond-precision instant in [start, end)."""
    span_ms = int((end - start).total_seconds() * 1000)
    return start + timedelta(milliseconds=rng.randrange(span_ms))


def thrive_record(
    rng: random.Random,
    *,
    created: datetime,
    name: str,
    reference: str | None,
    api_controlled: bool,
    category: str,
    type_: str,
    parent: Record | None,
    parent_key: bool = True,
) -> Record:
    """One audience as the API's ``results`` item, keys in the API's order."""
    rec: Record = {"id": object_id(rng, created), "name": name}
    if reference is not None:
        rec["reference"] = reference
    rec["apiControlled"] = api_controlled
    rec["category"] = category
    rec["type"] = type_
    if parent_key:
        rec["parent"] = (
            {"id": parent["id"], "name": parent["name"], "reference": parent.get("reference")}
            if parent is not None
            else None
        )
    rec["createdAt"] = thrive_time(rng, created)
    if rng.random() < 0.03:
        rec["updatedAt"] = None
    else:
        updated = created + timedelta(milliseconds=rng.randrange(1, 400 * 86_400_000))
        rec["updatedAt"] = thrive_time(rng, min(updated, datetime(2025, 11, 1, tzinfo=UTC)))
    return rec


def generate_thrive(rng: random.Random) -> tuple[list[Record], dict[str, Any]]:
    """The tenant's records (sorted by creation) and the planted problems' ids."""
    start = datetime(2021, 1, 4, tzinfo=UTC)
    end = datetime(2025, 10, 1, tzinfo=UTC)
    records: list[tuple[datetime, Record]] = []
    structures: dict[str, Record] = {}
    children: dict[str, list[Record]] = {}

    for name, slug, api, pool_a, pool_b, count in STRUCTURES:
        created = random_instant(rng, start, datetime(2024, 1, 1, tzinfo=UTC))
        # Structures are top-level: parent null, or the key left out altogether.
        struct = thrive_record(
            rng,
            created=created,
            name=name,
            reference=f"str-{slug}",
            api_controlled=api,
            category="structure",
            type_="manual",
            parent=None,
            parent_key=rng.random() < 0.7,
        )
        records.append((created, struct))
        structures[slug] = struct
        combos = [f"{a} {DASH} {b}" for a in pool_a for b in pool_b]
        assert len(combos) >= count, name
        rng.shuffle(combos)
        kids = []
        for i, child_name in enumerate(combos[:count]):
            child_created = random_instant(rng, created, end)
            # UI structures hold manual and smart audiences; API ones only manual.
            smart = not api and (slug.startswith("smart-") or rng.random() < 0.3)
            kid = thrive_record(
                rng,
                created=child_created,
                name=child_name,
                reference=f"{slug}-{i + 1:04d}",
                api_controlled=api,
                category="audience",
                type_="smart" if smart else "manual",
                parent=struct,
            )
            records.append((child_created, kid))
            kids.append(kid)
        children[slug] = kids

    def new(name: str, **kw: Any) -> Record:
        created = random_instant(rng, datetime(2024, 1, 1, tzinfo=UTC), end)
        rec = thrive_record(rng, created=created, name=name, **kw)
        records.append((created, rec))
        return rec

    planted: dict[str, Any] = {}
    # T1: two audiences in different structures share one reference.
    first = children["interest-groups"][3]
    second = children["mentoring"][7]
    second["reference"] = first["reference"]
    planted["T1"] = {"reference": first["reference"], "ids": [first["id"], second["id"]]}
    # T2: an audience whose parent is not among the structures (a structure deleted badly).
    ghost = {
        "id": object_id(rng, datetime(2022, 5, 1, tzinfo=UTC)),
        "name": "Old intranet groups",
        "reference": "str-old-intranet",
    }
    orphan = new(
        "Intranet editors",
        reference="old-intranet-0001",
        api_controlled=False,
        category="audience",
        type_="manual",
        parent=ghost,
    )
    planted["T2"] = {"id": orphan["id"], "parent_id": ghost["id"]}
    # T3: an API-controlled smart audience (the API only ever makes manual ones).
    smart_api = new(
        f"Engineering {DASH} auto-enrolled",
        reference="departments-9001",
        api_controlled=True,
        category="audience",
        type_="smart",
        parent=structures["departments"],
    )
    planted["T3"] = {"id": smart_api["id"]}
    # T4: an API-controlled audience inside a UI-made structure.
    misplaced = new(
        f"Python {DASH} synced from HRIS",
        reference="learning-paths-9001",
        api_controlled=True,
        category="audience",
        type_="manual",
        parent=structures["learning-paths"],
    )
    planted["T4"] = {"id": misplaced["id"], "structure_id": structures["learning-paths"]["id"]}
    # T5: a structure with no audiences.
    empty = new(
        "Reorg 2026 (placeholder)",
        reference="str-reorg-2026",
        api_controlled=True,
        category="structure",
        type_="manual",
        parent=None,
    )
    planted["T5"] = {"id": empty["id"]}
    # T6: an audience without a parent.
    lonely = new(
        "Floating audience",
        reference="floating-0001",
        api_controlled=False,
        category="audience",
        type_="manual",
        parent=None,
    )
    planted["T6"] = {"id": lonely["id"]}
    # T7: a structure that has a parent.
    nested = new(
        "Sub-structure of Projects",
        reference="str-projects-sub",
        api_controlled=True,
        category="structure",
        type_="manual",
        parent=structures["projects"],
    )
    planted["T7"] = {"id": nested["id"], "parent_id": structures["projects"]["id"]}
    # Two audiences inside it, so T7 is not also an empty structure.
    for i in (1, 2):
        created = random_instant(
            rng, datetime(2025, 10, 2, tzinfo=UTC), datetime(2025, 10, 30, tzinfo=UTC)
        )
        kid = thrive_record(
            rng,
            created=created,
            name=f"Sub-project {i}",
            reference=f"projects-sub-{i:04d}",
            api_controlled=True,
            category="audience",
            type_="manual",
            parent=nested,
        )
        records.append((created, kid))

    # Odd but valid: one record without a reference key; unknown keys on a few records.
    no_ref = children["pilots"][2]
    del no_ref["reference"]
    planted["missing_reference"] = {"id": no_ref["id"]}
    extras = [
        (children["departments"][0], {"memberCount": 42}),
        (children["regional-hubs"][5], {"memberCount": 7, "syncSource": "workday"}),
        (structures["skills"], {"archivedAt": None}),
        (children["legacy-lms"][11], {"legacyId": 80_412, "tags": ["imported", "lms"]}),
        (children["locations"][4], {"description": f"Hybrid staff {DASH} Zürich office"}),
    ]
    for rec, keys in extras:
        rec.update(keys)
    planted["unknown_keys"] = [rec["id"] for rec, _ in extras]
    planted["null_updated_at"] = sum(
        1 for _, rec in records if "updatedAt" in rec and rec["updatedAt"] is None
    )

    records.sort(key=lambda pair: (pair[0], pair[1]["id"]))
    return [rec for _, rec in records], planted


# --------------------------------------------------------------------------------------------
# Unless
# --------------------------------------------------------------------------------------------

# fmt: off
SEGMENTS = ["Returning visitors", "New visitors", "Mobile users", "Newsletter signups",
            "Cart abandoners", "High-value customers", "Paid search", "Organic search",
            "Social traffic", "Logged-in members", "Trial users", "Enterprise leads",
            "Visiteurs français", "Deutsche Besucher", "日本のユーザー", "Black Friday 🛍️",
            "Summer sale ☀️", "Loyalty gold", "Students", "Partners"]
PAGES = ["/", "/pricing", "/checkout", "/cart", "/blog", "/blog/*", "/products/shoes",
         "/products/bags", "/about", "/contact", "/de/angebote", "/fr/soldes", "/jp/キャンペーン",
         "/signup", "/login", "/help/*", "/careers"]
TAGS = ["promo", "q4", "seo", "retention", "B2B", "acquisition", "München", "新規", "🔥hot",
        "experiment", "evergreen"]
FIELDS_STR = ["url", "referrer", "device", "country", "utm_source", "utm_campaign", "language",
              "browser", "segment", "cookie.consent", "query.ref"]
STR_VALUES = ["/", "/pricing", "mobile", "desktop", "NL", "DE", "JP", "google", "newsletter",
              "fr-FR", "Zürich", "東京", "vip 🎉", "", "summer_sale", "^/blog/.*$"]
OPS_STR = ["equals", "not_equals", "contains", "starts_with", "ends_with", "matches"]
OPS_NUM = ["equals", "gt", "gte", "lt", "lte"]
OPS_LIST = ["in", "not_in"]
# fmt: on


def leaf(rng: random.Random, kind: str | None = None) -> Record:
    """One ``{field, operator, value}`` condition, its value of the given JSON kind."""
    kind = (
        kind
        or rng.choices(
            ["string", "int", "float", "bool", "null", "array", "object"],
            weights=[55, 12, 6, 10, 4, 9, 4],
        )[0]
    )
    if kind == "string":
        return {
            "field": rng.choice(FIELDS_STR),
            "operator": rng.choice(OPS_STR),
            "value": rng.choice(STR_VALUES),
        }
    if kind == "int":
        return {
            "field": rng.choice(["visits", "pageviews", "cart_items", "days_since_visit"]),
            "operator": rng.choice(OPS_NUM),
            "value": rng.randrange(0, 50),
        }
    if kind == "float":
        return {
            "field": rng.choice(["cart_value", "ltv", "scroll_depth"]),
            "operator": rng.choice(OPS_NUM),
            "value": round(rng.uniform(0, 500), 2),
        }
    if kind == "bool":
        return {
            "field": rng.choice(["logged_in", "is_customer", "consent_given"]),
            "operator": "equals",
            "value": rng.random() < 0.5,
        }
    if kind == "null":
        return {
            "field": rng.choice(["utm_campaign", "referrer", "segment"]),
            "operator": rng.choice(["equals", "not_equals"]),
            "value": None,
        }
    if kind == "array":
        return {
            "field": rng.choice(["country", "device", "language"]),
            "operator": rng.choice(OPS_LIST),
            "value": rng.sample(
                ["NL", "BE", "DE", "FR", "JP", "mobile", "tablet", "en"], rng.randrange(1, 4)
            ),
        }
    return {
        "field": rng.choice(["geo", "cookie"]),
        "operator": "matches",
        "value": {
            "name": rng.choice(["ab_group", "region"]),
            "value": rng.choice(["b", "emea", 3, True]),
        },
    }


def group(rng: random.Random, depth: int) -> Any:
    """An ``and`` / ``or`` / ``not`` expression nested ``depth`` groups deep."""
    if depth == 0:
        return leaf(rng)
    op = rng.choices(["and", "or", "not"], weights=[5, 4, 1])[0]
    if op == "not":
        if rng.random() < 0.5:
            return {"not": group(rng, depth - 1)}
        return {"not": [group(rng, depth - 1) for _ in range(rng.randrange(1, 3))]}
    kids = [group(rng, depth - 1)]
    kids += [group(rng, rng.randrange(0, depth)) for _ in range(rng.randrange(0, 3))]
    return {op: kids}


def healthy_rule(rng: random.Random, index: int) -> Any:
    """A rule that parses and has at least one condition; every shape shows up early."""
    shape = index if index < 8 else rng.randrange(8)
    if shape == 0:  # the vendor's published example
        return {"and": [{"field": "url", "operator": "equals", "value": "/"}]}
    if shape == 1:  # a bare leaf, no group
        return leaf(rng)
    if shape == 2:  # not over a list
        return {"not": [leaf(rng), leaf(rng)]}
    if shape == 3:  # every JSON value type in one rule
        return {
            "and": [
                leaf(rng, k) for k in ["string", "int", "float", "bool", "null", "array", "object"]
            ]
        }
    return {
        rng.choice(["and", "or"]): [
            group(rng, rng.randrange(0, 3)) for _ in range(rng.randrange(1, 4))
        ]
    }


def dump_rule(rng: random.Random, rule: Any) -> str:
    """The rule as a JSON string: compact or spaced, as different clients saved them."""
    if rng.random() < 0.7:
        return json.dumps(rule, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(rule, ensure_ascii=rng.random() < 0.5)


def weights(rng: random.Random, n: int) -> list[int]:
    """``n`` positive integer weights summing to 100."""
    if n == 0:
        return []
    if rng.random() < 0.6:
        base = [100 // n] * n
        base[0] += 100 - sum(base)
        return base
    cuts = sorted(rng.sample(range(5, 96, 5), n - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]


def ms(instant: datetime) -> int:
    """Unix milliseconds."""
    return int(instant.timestamp() * 1000)


def generate_website(rng: random.Random, website_id: str, label: str, count: int) -> list[Record]:
    """One website's audiences, all healthy (problems are planted afterwards)."""
    names = [f"{s} {DASH} {p}" for s in SEGMENTS for p in PAGES]
    rng.shuffle(names)
    prios = rng.sample(range(1, 1000), count)  # unique per website: no path+prio clash
    out: list[Record] = []
    for i in range(count):
        state = rng.choices(["live", "draft", "stopped"], weights=[50, 20, 30])[0]
        created = random_instant(
            rng, datetime(2022, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
        )
        start = created + timedelta(hours=rng.randrange(0, 24 * 30))
        updated = created + timedelta(minutes=rng.randrange(1, 60 * 24 * 120))
        if state != "live" and rng.random() < 0.12:
            rule_text: str | None = rng.choice(["", None])  # draft or stopped with no rule yet
        else:
            rule_text = dump_rule(rng, healthy_rule(rng, i))
        rec: Record = {
            "accountId": UNLESS_ACCOUNT_ID,
            "websiteId": website_id,
            "ruleId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "name": names[i],
            "state": state,
            "prio": prios[i],
            "rule": rule_text,
            "startDate": ms(start) if state != "draft" or rng.random() < 0.5 else None,
            "createdDate": ms(created),
            "updatedDate": ms(min(updated, datetime(2025, 11, 1, tzinfo=UTC))),
            "webPagePath": rng.choice(PAGES),
            "exclusive": rng.random() < 0.2,
            "isComponent": rng.random() < 0.15,
            "disabled": state != "live" and rng.random() < 0.2,
            "readOnly": rng.random() < 0.1,
        }
        roll = rng.random()
        if roll < 0.55:
            unit, amount = rng.choice([("minutes", 30), ("hours", 12), ("days", 7), ("days", 30)])
            rec["duration"] = amount
            rec["durationType"] = unit
        elif roll < 0.65:
            rec["duration"] = None
        # else: duration and durationType both absent
        rec["audienceTags"] = rng.sample(TAGS, rng.choices([0, 1, 2, 3], [3, 4, 2, 1])[0])
        n_variants = rng.choices([0, 1, 2, 3, 4], weights=[2, 3, 5, 2, 1])[0]
        rec["variants"] = [
            {
                "id": "control" if j == 0 else f"variation-{j}",
                "name": "Control" if j == 0 else f"Variation {j} ({label})",
                "weight": w,
            }
            for j, w in enumerate(weights(rng, n_variants))
        ]
        out.append(rec)
    return out


def plant_unless(sites: dict[str, list[Record]]) -> dict[str, Any]:
    """Plant the Unless problems at fixed, healthy-looking places; return their ids."""
    shop, blog = (sites[w] for w in UNLESS_WEBSITES)

    def pick(records: list[Record], state: str, skip: int = 0) -> Record:
        chosen = [r for r in records if r["state"] == state and not r.get("_planted")]
        rec = chosen[skip]
        rec["_planted"] = True
        return rec

    def ref(rec: Record) -> dict[str, str]:
        return {"website_id": rec["websiteId"], "rule_id": rec["ruleId"]}

    planted: dict[str, Any] = {}
    # U1: variant weights that do not add up to 100.
    u1 = pick(blog, "live")
    u1["variants"] = [
        {"id": "control", "name": "Control", "weight": 50},
        {"id": "variation-1", "name": "Variation 1 (blog)", "weight": 40},
    ]
    planted["U1"] = ref(u1)
    # U2: a rule that is not JSON (cut short when saved). Draft, so no other check fires.
    u2 = pick(shop, "draft")
    u2["rule"] = '{"and":[{"field":"url","operator":"equals","value":"/sale"}'
    planted["U2"] = ref(u2)
    # U3: JSON, but of a shape the grammar does not know. Stopped, for the same reason.
    u3 = pick(shop, "stopped")
    u3["rule"] = '{"xor":[{"field":"device","operator":"equals","value":"mobile"},"tablet"]}'
    planted["U3"] = ref(u3)
    # U4: live but disabled.
    u4 = pick(shop, "live")
    u4["disabled"] = True
    planted["U4"] = ref(u4)
    # U5: two live audiences on one page with one prio: their order is undefined.
    a, b = pick(shop, "live"), pick(shop, "live")
    b["webPagePath"] = a["webPagePath"] = "/pricing"
    b["prio"] = a["prio"]
    planted["U5"] = {
        "website_id": a["websiteId"],
        "rule_ids": [a["ruleId"], b["ruleId"]],
        "web_page_path": "/pricing",
        "prio": a["prio"],
    }
    # U6: live with no conditions: it targets every visitor.
    u6 = pick(blog, "live")
    u6["rule"] = ""
    planted["U6"] = ref(u6)
    # U7: two audiences of one website with one name.
    c, d = pick(blog, "live"), pick(blog, "stopped")
    d["name"] = c["name"]
    planted["U7"] = {
        "website_id": c["websiteId"],
        "rule_ids": [c["ruleId"], d["ruleId"]],
        "name": c["name"],
    }
    # U8: live, but its start date is years ahead.
    u8 = pick(shop, "live")
    u8["startDate"] = ms(datetime(2031, 3, 1, 9, 0, tzinfo=UTC))
    planted["U8"] = ref(u8)

    for records in sites.values():
        for rec in records:
            rec.pop("_planted", None)
    return planted


# --------------------------------------------------------------------------------------------


def write_json(path: Path, value: Any) -> None:
    """Pretty, UTF-8, LF, trailing newline: stable bytes and readable diffs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, ensure_ascii=False, indent=1) + "\n"
    path.write_bytes(text.encode("utf-8"))


def main() -> dict[str, Any]:
    """Write every file; return the planted problems' ids (also in ``planted.json``)."""
    rng = random.Random(SEED)
    thrive, thrive_planted = generate_thrive(rng)
    write_json(HERE / "thrive" / "audiences.json", thrive)
    write_json(HERE / "thrive" / "tenant.json", {"tenantId": THRIVE_TENANT_ID})

    sites = {
        wid: generate_website(rng, wid, label, count)
        for wid, (label, count) in UNLESS_WEBSITES.items()
    }
    unless_planted = plant_unless(sites)
    for wid, records in sites.items():
        write_json(HERE / "unless" / f"{wid}.json", records)
    planted = {"thrive": thrive_planted, "unless": unless_planted}
    # Machine-readable twin of the table in README.md, for tests of the audit.
    write_json(HERE / "planted.json", planted)
    return planted


if __name__ == "__main__":
    main()
    print(f"wrote {HERE}/thrive, {HERE}/unless and {HERE}/planted.json")
