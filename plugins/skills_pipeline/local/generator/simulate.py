"""Simulate coherent working lives and write what each agency would deliver, day by day.

People are generated one at a time from their own seeded random stream, so memory stays flat at any population
size and the same seed always writes the same bytes. A person's records are routed to the delivery date on which
the agency would export them; everything dated before the first delivery date arrives in one initial extract on
that date (how a new interface is onboarded), then daily files follow.

Life histories: enterprise employees pay employee insurance all along and sometimes take upgrading training;
others register as unemployed, train, often get certified, and some start paying employee insurance or register
employment afterwards, some with an income below the local minimum living standard, some never.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import json
import random
import resource
import zlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from skills_pipeline import feeds
from skills_pipeline.ingest.identifiers import resident_id_with_check_character, uscc_with_check_character
from skills_pipeline.local.generator import reference
from skills_pipeline.local.generator.writers import FeedFileWriter, FileDefects

ENTERPRISE_PROGRAMS = ["enterprise_employee", "upgrading", "high_skill", "apprentice"]
OPEN_PROGRAMS = ["employment_skill", "order_project", "entrepreneurship", "labour_brand", "high_skill"]
CATEGORY_WEIGHTS = {
    "enterprise_employee": 30,
    "rural_migrant": 25,
    "unemployed": 14,
    "graduate": 10,
    "poverty_alleviated": 6,
    "flexible_worker": 6,
    "veteran": 3,
    "disabled": 2,
    "other": 4,
}
# Share of vouchers used with another institution than the training's, and of those written off twice.
VOUCHER_ANOMALY_SHARE = 0.003
# Share of completed trainings with a level whose trainee enters a skills competition.
COMPETITION_SHARE = 0.03
EMPLOYEE_INSURANCE = ["110", "210", "310", "410", "510"]
BIRTH_SPAN_DAYS = 14_600  # people aged 18 to 58 at the first delivery date
BIRTH_DATE_STRIDE = 7_919  # prime, so (block * stride) % span gives each block of 1,000 people its own birth date


@dataclass
class DefectRates:
    """Share of rows (or of files, for the file-level ones) that get each defect."""

    bad_check_character: float = 0.004
    missing_required: float = 0.003
    impossible_date: float = 0.002
    negative_money: float = 0.002
    duplicate_row: float = 0.002
    correction: float = 0.03
    extra_column_file: float = 0.2
    renamed_column_file: float = 0.03
    duplicate_file: float = 0.05
    late_file: float = 0.05

    @classmethod
    def none(cls) -> DefectRates:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def scaled(self, factor: float) -> DefectRates:
        return DefectRates(**{f.name: min(getattr(self, f.name) * factor, 1.0) for f in fields(self)})


@dataclass
class GeneratorConfig:
    out: Path
    persons: int = 2_000
    start: dt.date = dt.date(2026, 6, 1)
    end: dt.date = dt.date(2026, 6, 7)
    history_months: int = 6
    seed: int = 42
    defects: DefectRates = field(default_factory=DefectRates)
    feeds: tuple[str, ...] = tuple(feeds.FEEDS)

    @property
    def sidecar(self) -> Path:
        """What the generator writes that is not a delivery (its manifest, the late files waiting to be
        delivered): beside the landing root, never in it, where ingestion would report it as stray files."""
        return sidecar_of(self.out)

    @property
    def history_start(self) -> dt.date:
        return add_months(self.start.replace(day=1), -self.history_months)


def sidecar_of(landing_root: Path) -> Path:
    return landing_root.with_name(landing_root.name + ".generator")


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def stable_rng(*parts: object) -> random.Random:
    return random.Random(zlib.crc32(":".join(map(str, parts)).encode()))


@dataclass(frozen=True)
class Organisation:
    code: str
    name: str
    region: str

    @property
    def delivery_day(self) -> int:
        """The day of the month on which this employer's contributions reach the social-security export."""
        return 1 + zlib.crc32(self.code.encode()) % 28


@dataclass(frozen=True)
class TrainingClass:
    class_id: str
    institution: Organisation
    program_type: str
    occupation: tuple[str, str, bool]
    skill_level: int | None
    start_date: dt.date
    end_date: dt.date
    training_days: int


def pick_county(rng: random.Random) -> str:
    counties = list(reference.COUNTIES)
    weights = [reference.COUNTY_WEIGHTS.get(c, 1) for c in counties]
    return rng.choices(counties, weights)[0]


def make_uscc(rng: random.Random, region: str, legal_form: str) -> str:
    # Registration authority 9 (market regulation) + entity type, division code, 9-character organisation code.
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "".join(rng.choice(alphabet) for _ in range(9))
    return uscc_with_check_character(f"9{legal_form}{region}{body}")


class World:
    """The organisations and classes every person draws from; built once from the seed."""

    def __init__(self, config: GeneratorConfig):
        rng = stable_rng(config.seed, "world")
        self.institutions = []
        for number in range(max(8, config.persons // 1_500)):
            region = pick_county(rng)
            name = f"{reference.COUNTIES[region]}{rng.choice(reference.INSTITUTION_WORDS)}{number + 1}"
            self.institutions.append(Organisation(make_uscc(rng, region, "2"), name, region))
        self.evaluators = [
            Organisation(make_uscc(rng, pick_county(rng), "1"), f"职业技能等级认定机构{n + 1}", "140000")
            for n in range(max(3, config.persons // 20_000))
        ]
        self.employers = []
        for number in range(max(20, config.persons // 40)):
            region = pick_county(rng)
            name = (
                f"山西{reference.COUNTIES[region]}{rng.choice(reference.EMPLOYER_INDUSTRY_WORDS)}有限公司{number + 1}"
            )
            self.employers.append(Organisation(make_uscc(rng, region, "1"), name, region))
        self.classes_by_audience: dict[str, list[TrainingClass]] = {"enterprise": [], "open": []}
        first = config.history_start - dt.timedelta(days=20)
        span = (config.end - first).days + 1
        for number in range(max(12, config.persons * 2 // 5 // 25)):
            audience = "enterprise" if number % 3 == 0 else "open"
            program = rng.choice(ENTERPRISE_PROGRAMS if audience == "enterprise" else OPEN_PROGRAMS)
            occupation = rng.choice(reference.OCCUPATIONS)
            if program == "entrepreneurship" or not occupation[2]:
                level = None
            elif program == "high_skill":
                level = rng.choice([4, 4, 5, 6])
            else:
                level = rng.choice([2, 2, 3, 3, 4])
            days = rng.randint(10, 20) if program == "order_project" else rng.randint(5, 30)
            start = first + dt.timedelta(days=rng.randrange(span))
            institution = rng.choice(self.institutions)
            self.classes_by_audience[audience].append(
                TrainingClass(
                    class_id=f"BJ{start:%Y}{number + 1:06d}",
                    institution=institution,
                    program_type=program,
                    occupation=occupation,
                    skill_level=level,
                    start_date=start,
                    end_date=start + dt.timedelta(days=days + days // 5 - 1),
                    training_days=days,
                )
            )
        # An evaluator that issues a few certificates without being filed with the ministry (003 §七(三)): no
        # catalogue lists it, so its certificates are risk warnings.
        self.unfiled_evaluator = Organisation(make_uscc(rng, pick_county(rng), "1"), "未备案评价机构", "140000")


@dataclass
class Person:
    index: int
    id_number: str
    name: str
    county: str
    category: str


def make_person(config: GeneratorConfig, index: int, rng: random.Random) -> Person:
    block, sequence = divmod(index, 1_000)
    birth = config.start - dt.timedelta(days=18 * 365 + (block * BIRTH_DATE_STRIDE) % BIRTH_SPAN_DAYS)
    county = pick_county(rng)
    prefix = county
    if birth.year < reference.HISTORICAL_BEFORE_YEAR:
        prefix = reference.HISTORICAL_PREFIX.get(county, county)
    id_number = resident_id_with_check_character(f"{prefix}{birth:%Y%m%d}{sequence:03d}")
    name = rng.choice(reference.SURNAMES) + "".join(rng.choices(reference.GIVEN_CHARS, k=rng.choice([1, 2, 2])))
    category = rng.choices(list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values()))[0]
    return Person(index, id_number, name, county, category)


def stamp(day: dt.date, rng: random.Random, hour: int = 9) -> str:
    return (
        f"{day:%Y-%m-%d} {hour + rng.randrange(min(8, 24 - hour)):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    )


def level_spelling(rank: int, rng: random.Random) -> str:
    name, national = feeds.SKILL_LEVELS[rank]
    return rng.choice([str(rank), name] + ([national] if national else []))


class Life:
    """One person's records, each tagged with the date its agency delivers it."""

    def __init__(self, config: GeneratorConfig, world: World, person: Person, rng: random.Random):
        self.config, self.world, self.person, self.rng = config, world, person, rng
        self.records: list[tuple[str, dt.date, dict]] = []
        self.voucher: dict | None = None  # the voucher of the training under way, once issued

    def emit(self, feed: str, delivered: dt.date, row: dict) -> None:
        self.records.append((feed, delivered, row))

    def simulate(self) -> list[tuple[str, dt.date, dict]]:
        rng, person = self.rng, self.person
        employer = rng.choice(self.world.employers) if person.category == "enterprise_employee" else None
        if employer:
            base = rng.randrange(30, 90) * 100
            self.contribute(employer, base, self.config.history_start, self.config.end, EMPLOYEE_INSURANCE)
        train_chance = 0.2 if employer else 0.45
        if rng.random() < train_chance:
            audience = "enterprise" if employer else "open"
            self.train(rng.choice(self.world.classes_by_audience[audience]), has_job=employer is not None)
        elif not employer and rng.random() < 0.15:
            self.individual_pension(self.config.history_start)
        return self.records

    def contribute(self, employer: Organisation | None, base: int, first: dt.date, last: dt.date, types) -> None:
        """Monthly contributions from first's month to last's month, delivered the following month."""
        month = first.replace(day=1)
        while month <= last:
            delivery_month = add_months(month, 1)
            day = employer.delivery_day if employer else 1 + self.person.index % 28
            delivered = delivery_month.replace(day=day)
            for insurance_type in types:
                self.emit(
                    "social_security",
                    delivered,
                    {
                        "id_number": self.person.id_number,
                        "name": self.person.name,
                        "employer_code": employer.code if employer else None,
                        "region_code": employer.region if employer else self.person.county,
                        "insurance_type": insurance_type,
                        "contribution_month": f"{month:%Y%m}",
                        "contribution_base": f"{base:.2f}",
                        "paid": "1" if self.rng.random() > 0.02 else "0",
                        "updated_at": stamp(delivered, self.rng, hour=1),
                    },
                )
            month = delivery_month

    def individual_pension(self, first: dt.date) -> None:
        self.contribute(None, 200, first, self.config.end, ["170"])

    def register(self, event_type: str, day: dt.date, employer: Organisation | None, income: int | None) -> None:
        self.emit(
            "employment",
            day,
            {
                "registration_id": f"DJ{day:%Y%m%d}{self.person.index:08d}{event_type[:2].upper()}",
                "id_number": self.person.id_number,
                "name": self.person.name,
                "event_type": event_type,
                "employer_code": employer.code if employer else None,
                "region_code": employer.region if employer else self.person.county,
                "event_date": f"{day:%Y-%m-%d}",
                "monthly_income": f"{income:.2f}" if income is not None else None,
                "updated_at": stamp(day, self.rng, hour=14),
            },
        )

    def train(self, course: TrainingClass, has_job: bool) -> None:
        rng, person = self.rng, self.person
        if person.category == "unemployed":
            self.register("unemployment", course.start_date - dt.timedelta(days=rng.randint(10, 60)), None, None)
        row = {
            "enrollment_id": f"{course.class_id}-{person.index:08d}",
            "class_id": course.class_id,
            "id_number": person.id_number,
            "name": person.name,
            "institution_code": course.institution.code,
            "institution_name": course.institution.name,
            "program_type": course.program_type,
            "trainee_category": "enterprise_employee" if has_job else person.category,
            "occupation_code": course.occupation[0],
            "skill_level": level_spelling(course.skill_level, rng) if course.skill_level else None,
            "start_date": f"{course.start_date:%Y-%m-%d}",
            "end_date": f"{course.end_date:%Y-%m-%d}",
            "training_days": str(course.training_days),
            "completion_status": "in_progress",
            "region_code": course.institution.region,
            # a worker applies for a voucher; an enterprise trains its own employees without one
            "voucher_id": self.issue_voucher(course) if not has_job and rng.random() < 0.7 else None,
            "updated_at": stamp(course.start_date, rng),
        }
        self.emit("training", course.start_date, dict(row))
        finished = course.end_date + dt.timedelta(days=1)
        outcome = rng.choices(["completed", "dropped"], [92, 8])[0]
        self.emit("training", finished, {**row, "completion_status": outcome, "updated_at": stamp(finished, rng)})
        if row["voucher_id"]:
            self.close_voucher(course, row["voucher_id"], finished, outcome)
        if outcome != "completed":
            return
        self.certify(course, finished)
        if not has_job:
            self.find_work(course, finished)
        if course.skill_level and rng.random() < COMPETITION_SHARE:
            self.compete(course, finished)

    def voucher_event(self, voucher: dict, event_type: str, day: dt.date, suffix: str = "") -> None:
        self.emit("voucher", day, {**voucher, "voucher_event_id": f"{voucher['voucher_id']}-{event_type[:2].upper()}"
                                   f"{suffix}", "event_type": event_type, "event_date": f"{day:%Y-%m-%d}",
                                   "updated_at": stamp(day, self.rng, hour=10)})  # fmt: skip

    def issue_voucher(self, course: TrainingClass) -> str:
        """003 §五: the worker applies for an e-voucher for the occupation they mean to train in, it is issued, valid
        for a year, and used with the institution they choose. Returns the voucher id the training carries."""
        rng, person = self.rng, self.person
        applied = course.start_date - dt.timedelta(days=rng.randint(20, 45))
        issued = applied + dt.timedelta(days=rng.randint(2, 10))
        voucher = {
            "voucher_id": f"DZQ{course.start_date:%Y}{person.index:09d}",
            "id_number": person.id_number,
            "name": person.name,
            "program_type": course.program_type,
            "trainee_category": person.category,
            "occupation_code": course.occupation[0],
            "institution_code": None,
            "amount_cap": f"{rng.choice([1000, 1500, 2000]):.2f}",
            "valid_until": f"{add_months(issued, 12):%Y-%m-%d}",
            "region_code": person.county,
        }
        self.voucher = voucher
        self.voucher_event(voucher, "applied", applied)
        self.voucher_event(voucher, "issued", issued)
        # Anomalies an inspector should see: a voucher used with another institution than the training's.
        used_with = course.institution.code
        if rng.random() < VOUCHER_ANOMALY_SHARE:
            used_with = rng.choice(self.world.institutions).code
        self.voucher = {**voucher, "institution_code": used_with}
        self.voucher_event(self.voucher, "started", course.start_date)
        return voucher["voucher_id"]

    def close_voucher(self, course: TrainingClass, voucher_id: str, finished: dt.date, outcome: str) -> None:
        rng, voucher = self.rng, self.voucher
        if outcome != "completed":
            if rng.random() < 0.5:
                self.voucher_event(voucher, "cancelled", finished + dt.timedelta(days=rng.randint(1, 10)))
            return
        redeemed = finished + dt.timedelta(days=rng.randint(1, 20))
        self.voucher_event(voucher, "redeemed", redeemed)
        written_off = redeemed + dt.timedelta(days=rng.randint(5, 30))
        self.voucher_event(voucher, "written_off", written_off)
        if rng.random() < VOUCHER_ANOMALY_SHARE:  # the same voucher written off a second time
            self.voucher_event(voucher, "written_off", written_off + dt.timedelta(days=rng.randint(1, 9)), "2")

    def compete(self, course: TrainingClass, finished: dt.date) -> None:
        """002 §(十一): a few trained workers enter a competition; top places are promoted one level (up to 技师)
        and a provincial first place is honoured as 三晋技术能手."""
        rng, person = self.rng, self.person
        day = finished + dt.timedelta(days=rng.randint(30, 200))
        tier = rng.choice(["county", "city", "city", "provincial", "industry"])
        place = rng.randint(1, 6)
        promoted = min(course.skill_level + 1, 5) if place <= 3 and course.skill_level < 5 else None
        self.emit(
            "competition",
            day,
            {
                "award_id": f"JS{day:%Y}{person.index:09d}",
                "competition_name": f"{day:%Y}年{feeds.COMPETITION_TIERS[tier]}{course.occupation[1]}职业技能竞赛",
                "tier": tier,
                "occupation_code": course.occupation[0],
                "id_number": person.id_number,
                "name": person.name,
                "award": {1: "一等奖", 2: "二等奖", 3: "三等奖"}.get(place, "优秀奖"),
                "place": str(place),
                "honour": "三晋技术能手" if tier == "provincial" and place == 1 else None,
                "promoted_level": level_spelling(promoted, rng) if promoted else None,
                "award_date": f"{day:%Y-%m-%d}",
                "region_code": person.county if tier in ("county", "city") else "140000",
                "updated_at": stamp(day, rng, hour=11),
            },
        )

    def certify(self, course: TrainingClass, finished: dt.date) -> None:
        rng = self.rng
        special = course.skill_level is None and course.program_type != "entrepreneurship"
        if not (course.skill_level or special) or rng.random() > 0.65:
            return
        issued = finished + dt.timedelta(days=rng.randint(7, 40))
        roll = rng.random()
        issuer = course.institution if roll < 0.4 else rng.choice(self.world.evaluators)
        if roll > 0.995:
            issuer = self.world.unfiled_evaluator
        row = {
            "certificate_id": f"ZS{issued:%Y}{self.person.index:09d}{course.occupation[0][-2:]}",
            "id_number": self.person.id_number,
            "name": self.person.name,
            "certificate_type": "special_ability"
            if special
            else rng.choice(["skill_level", "skill_level", "qualification"]),
            "occupation_code": course.occupation[0],
            "occupation_name": course.occupation[1],
            "skill_level": None if special else level_spelling(course.skill_level, rng),
            "issue_date": f"{issued:%Y-%m-%d}",
            "issuer_code": issuer.code,
            "region_code": course.institution.region,
            "status": "valid",
            "updated_at": stamp(issued, rng),
        }
        self.emit("certificate", issued, row)
        if rng.random() < self.config.defects.correction:
            revoked = issued + dt.timedelta(days=rng.randint(1, 5))
            self.emit("certificate", revoked, {**row, "status": "revoked", "updated_at": stamp(revoked, rng)})

    def find_work(self, course: TrainingClass, finished: dt.date) -> None:
        rng = self.rng
        chance = 0.85 if course.program_type == "order_project" else 0.5
        roll = rng.random()
        if roll < chance:
            start = finished + dt.timedelta(days=rng.randint(0, 150))
            employer = rng.choice(self.world.employers)
            base = rng.randrange(25, 60) * 100
            months = rng.choice([1, 3, 6, 12, 24])
            self.contribute(
                employer, base, start, min(add_months(start, months - 1), self.config.end), EMPLOYEE_INSURANCE
            )
            if rng.random() < 0.6:
                # A tenth of registered incomes fall below the minimum living standard: not "employed" (003).
                income = base if rng.random() > 0.1 else rng.randrange(40, 75) * 10
                self.register("employment", start, employer, income)
                if rng.random() < self.config.defects.correction * 3:
                    fixed = start + dt.timedelta(days=rng.randint(1, 5))
                    self.emit("employment", fixed, {**self.records[-1][2], "monthly_income": f"{base + 100:.2f}",
                                                    "updated_at": stamp(fixed, rng, hour=17)})  # fmt: skip
        elif roll < chance + 0.15:
            day = finished + dt.timedelta(days=rng.randint(0, 90))
            self.register("flexible_employment", day, None, rng.randrange(60, 400) * 10)
            self.individual_pension(day)


def catalogue_entry(year: int, number: int, kind: str, occupation: tuple, rng: random.Random, **fields) -> dict:
    """One row of the year's catalogue feed; fields: the organisation, filing, program and subsidy of the entry."""
    organisation = fields.get("organisation")
    return {
        "entry_id": f"ML{year}{kind[:2].upper()}{number:06d}",
        "catalogue_year": str(year),
        "entry_kind": kind,
        "institution_code": organisation.code if organisation else None,
        "institution_name": organisation.name if organisation else None,
        "region_code": organisation.region if organisation else "140000",
        "occupation_code": occupation[0],
        "occupation_name": occupation[1],
        "program_type": fields.get("program"),
        "subsidy_class": fields.get("subsidy"),
        "filing_number": fields.get("filing"),
        "valid_from": f"{year}-01-01",
        "valid_to": f"{year}-12-31",
        "updated_at": stamp(dt.date(year, 1, 1), rng),
    }


def catalogue_records(config: GeneratorConfig, world: World) -> list[tuple[str, dt.date, dict]]:
    """Each year's published catalogues (001 §三(七)), delivered at the start of the year (the history's years in
    the initial extract): the training institutions with the occupations their classes teach, the evaluation
    institutions with their filing numbers, and the training projects. So that the checks have something to find,
    the last institution is left off the latest year's list and the first is not licensed for one occupation it
    teaches (World.unfiled_evaluator is in no list)."""
    taught: dict[str, set[tuple[str, str, bool]]] = {}
    for course in world.classes_by_audience["enterprise"] + world.classes_by_audience["open"]:
        taught.setdefault(course.institution.code, set()).add(course.occupation)
    records = []
    for year in range(config.history_start.year, config.end.year + 1):
        published, rng, entries = dt.date(year, 1, 1), stable_rng(config.seed, "catalogue", year), []
        for position, institution in enumerate(world.institutions):
            if year == config.end.year and position == len(world.institutions) - 1:
                continue
            occupations = sorted(taught.get(institution.code, set()))
            if position == 0 and len(occupations) > 1:
                occupations = occupations[1:]
            entries += [
                ("training_institution", occupation, {"organisation": institution}) for occupation in occupations
            ]
        for evaluator in world.evaluators + world.institutions:
            filing = f"PJ{year}{zlib.crc32(evaluator.code.encode()) % 100_000:05d}"
            entries += [("evaluation_institution", occupation, {"organisation": evaluator, "filing": filing})
                        for occupation in reference.OCCUPATIONS]  # fmt: skip
        for occupation in reference.OCCUPATIONS:
            subsidy = "A" if occupation[2] else "C"
            entries += [("training_project", occupation, {"program": program, "subsidy": subsidy})
                        for program in feeds.PROGRAM_TYPES]  # fmt: skip
        records += [("catalogue", published, catalogue_entry(year, number, kind, occupation, rng, **fields))
                    for number, (kind, occupation, fields) in enumerate(entries, start=1)]  # fmt: skip
    return records


class Router:
    """Sends each record to the writer of its feed and delivery date; dates before the window collapse into the
    initial extract, keeping only a record's latest version there (a file never repeats a natural key)."""

    def __init__(self, config: GeneratorConfig):
        self.config = config
        self.writers: dict[tuple[str, dt.date], FeedFileWriter] = {}

    def writer(self, feed: str, day: dt.date) -> FeedFileWriter:
        key = (feed, day)
        if key not in self.writers:
            rng = stable_rng(self.config.seed, feed, day)
            defects = FileDefects.draw(rng, self.config.defects)
            root = self.config.sidecar / "late" if defects.late else self.config.out
            self.writers[key] = FeedFileWriter(feeds.get_feed(feed), day, root, rng, defects, self.config)
        return self.writers[key]

    def route(self, records: list[tuple[str, dt.date, dict]]) -> None:
        latest: dict[tuple[str, dt.date, tuple], dict] = {}
        for feed, delivered, row in records:
            if feed not in self.config.feeds or delivered > self.config.end:
                continue
            day = max(delivered, self.config.start)
            natural_key = tuple(row[k] for k in feeds.get_feed(feed).natural_key)
            latest[(feed, day, natural_key)] = row  # later versions are emitted later
        for (feed, day, _), row in latest.items():
            self.writer(feed, day).write(row)

    def close(self) -> list[dict]:
        return [writer.close() for writer in self.writers.values()]


def generate(config: GeneratorConfig, progress=None) -> dict:
    """Write the feeds under config.out and return the manifest (also written to <sidecar>/manifest.json)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one open file per feed and delivery date
    config.out.mkdir(parents=True, exist_ok=True)
    world = World(config)
    router = Router(config)
    try:
        router.route(catalogue_records(config, world))
        for index in range(config.persons):
            rng = random.Random(config.seed * 1_000_003 + index)
            person = make_person(config, index, rng)
            router.route(Life(config, world, person, rng).simulate())
            if progress and (index + 1) % 10_000 == 0:
                progress(index + 1, config.persons)
        files = router.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    manifest = {
        "config": {**asdict(config), "out": str(config.out)},
        "files": sorted(files, key=lambda f: (f["data_date"], f["feed"], f["path"])),
    }
    config.sidecar.mkdir(parents=True, exist_ok=True)
    manifest["targets"] = str(write_demo_targets(config))
    (config.sidecar / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1, default=str))
    return manifest


# Yearly demo targets per generated person, for the province; a weighted county gets its share of them.
DEMO_TARGETS_PER_PERSON = {"subsidised_trainings": 0.45, "new_skilled_persons": 0.2}


def write_demo_targets(config: GeneratorConfig) -> Path:
    """<sidecar>/targets-<year>.csv: the targets a bureau would import for the demo's year (the policy documents set
    none for it), for the province and the counties the population is weighted towards, in the format of
    `skills-pipeline targets import` (docs/targets.md). Labelled as demo figures, not policy."""
    year = config.end.year
    weights = {code: reference.COUNTY_WEIGHTS.get(code, 1) for code in reference.COUNTIES}
    total = sum(weights.values())
    # Every programme type but the labour brand counts towards the subsidised trainings (as 003 §二(一) reads).
    scope = "order_project|enterprise_employee|upgrading|apprentice|entrepreneurship|employment_skill|high_skill"
    rows = []
    for indicator, per_person in DEMO_TARGETS_PER_PERSON.items():
        province = round(config.persons * per_person)
        programmes = scope if indicator == "subsidised_trainings" else ""
        rows.append(["140000", indicator, province, programmes])
        rows += [
            [code, indicator, round(province * weights[code] / total), programmes] for code in reference.COUNTY_WEIGHTS
        ]
    path = config.sidecar / f"targets-{year}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["region_code", "indicator", "period_start", "period_end", "target_value", "program_types",
                         "source"])  # fmt: skip
        for region, indicator, value, programmes in rows:
            writer.writerow([region, indicator, f"{year}-01-01", f"{year}-12-31", value, programmes,
                             "演示数据：生成器设定的年度目标（非政策文件）"])  # fmt: skip
    return path
