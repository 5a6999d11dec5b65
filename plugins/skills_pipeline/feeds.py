"""The feed contract of docs/feeds.md as data: columns, Chinese header labels, value kinds, natural keys, and the
rules that relate one column of a row to another.

Everything that depends on a feed's layout (header mapping, validation, staging and raw tables, the typed insert,
the generator) reads it from here, so a new optional column or a new row rule is one line. What each value kind
accepts, and how it is stored, is in skills_pipeline/ingest/rules.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    RESIDENT_ID = "resident_id"  # GB 11643 18-character ID
    USCC = "uscc"  # GB 32100 unified social credit code
    REGION = "region"  # GB/T 2260 six-digit code
    OCCUPATION = "occupation"  # national occupation classification D-DD-DD-DD
    SKILL_LEVEL = "skill_level"  # rank 1-8 or a national level name, normalised downstream
    ENUM = "enum"
    DATE = "date"
    MONTH = "month"
    TIMESTAMP = "timestamp"
    MONEY = "money"
    POSITIVE_INT = "positive_int"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Column:
    name: str
    label: str  # the Chinese header agencies export
    kind: Kind
    required: bool = True
    # For enums: canonical code -> Chinese label; both spellings are accepted, raw stores the code.
    choices: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotBefore:
    """Row rule: the date in `later` is on or after the date in `earlier` (when both are valid dates)."""

    later: str
    earlier: str


@dataclass(frozen=True)
class RequiredUnless:
    """Row rule: `column` is filled in unless `other` holds one of the exempt codes (or their Chinese labels)."""

    column: str
    other: str
    exempt: tuple[str, ...]
    why: str = ""


RowRule = NotBefore | RequiredUnless

# Personal information under PIPL (docs/feeds.md): only raw.<feed> and the vault hold them; the transformer reads
# raw through pseudonymised.<feed>, which leaves them out.
PERSONAL_COLUMNS = ("id_number", "name")

# Plausibility (docs/feeds.md, plausibility): no date in the feeds is before this one.
EARLIEST_PLAUSIBLE_DATE = dt.date(1950, 1, 1)


@dataclass(frozen=True)
class DateWindow:
    """Plausibility rule: the date (or month) in `column` is not before EARLIEST_PLAUSIBLE_DATE and not later than
    the delivery's data date plus `days_after_delivery` (a planned end date may lie ahead; an event may not)."""

    column: str
    days_after_delivery: int = 0


@dataclass(frozen=True)
class Ceiling:
    """Plausibility rule: the amount in `column` is at most `yuan`; the environment variable
    SKILLS_CEILING_<COLUMN> (e.g. SKILLS_CEILING_CONTRIBUTION_BASE=150000) sets another ceiling."""

    column: str
    yuan: int

    @property
    def setting(self) -> str:
        return f"SKILLS_CEILING_{self.column.upper()}"


Plausibility = DateWindow | Ceiling


@dataclass(frozen=True)
class Feed:
    name: str
    label: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]
    row_rules: tuple[RowRule, ...] = ()
    # values no real record holds: quarantined with a named rule (<column>:before_1950, :after_delivery_date,
    # :above_ceiling)
    plausibility: tuple[Plausibility, ...] = ()
    # raw.<feed> gets a btree index on the natural key: its incremental staging model re-reads every version of the
    # keys a night's batches changed (macro changed_key_versions). Not for contributions, whose staging model keeps
    # the stored versions itself: an index on 10 M rows a month would slow their load.
    raw_key_index: bool = True
    # A heavy feed's load takes a slot of the heavy pool (operations.HEAVY_POOL) in the ingestion DAG.
    heavy: bool = False
    # The dbt staging model that holds the feed's latest records, or None for a feed only loaded into raw. A staging
    # model naming persons (person_id, replaced_person_id, batch_id) is listed in int_people__record_batches, the one
    # definition of which persons a night touched (tests/unit/test_feed_registry.py checks the two agree).
    staging_model: str | None = None
    # dbt source freshness: the agency delivers at least this often, in days (None: yearly or irregular, no check).
    # The feed's source in dbt_project/models/staging/_sources.yml warns after it (a test holds the two together).
    freshness_days: int | None = 2

    @property
    def names_persons(self) -> bool:
        """Whether the feed's rows name a person by ID number (and so are pseudonymised into the vault)."""
        return any(c.kind is Kind.RESIDENT_ID for c in self.columns)

    @property
    def person_column(self) -> str | None:
        """The column naming the person by ID number (pseudonymised at load time into raw.<feed>.person_id)."""
        return next((c.name for c in self.columns if c.kind is Kind.RESIDENT_ID), None)

    @property
    def personal_columns(self) -> list[str]:
        """The columns pseudonymised.<feed> leaves out (feeds.md, Personal information)."""
        return [c.name for c in self.columns if c.name in PERSONAL_COLUMNS or c.kind is Kind.RESIDENT_ID]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"feed {self.name} has no column {name!r}")

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"

    @property
    def pseudonymised_view(self) -> str:
        """raw.<feed> without its personal columns: what dbt's sources read (migration 013)."""
        return f"pseudonymised.{self.name}"


PROGRAM_TYPES = {
    "enterprise_employee": "企业职工培训",
    "employment_skill": "就业技能培训",
    "upgrading": "岗位技能提升培训",
    "entrepreneurship": "创业培训",
    "order_project": "订单式/项目制培训",
    "high_skill": "高技能人才培训",
    "apprentice": "新型学徒制",
    "labour_brand": "劳务品牌培训",
}
TRAINEE_CATEGORIES = {
    "enterprise_employee": "企业职工",
    "rural_migrant": "农村转移劳动力",
    "unemployed": "失业人员",
    "poverty_alleviated": "脱贫劳动力",
    "graduate": "毕业年度学生",
    "flexible_worker": "灵活就业人员",
    "veteran": "退役军人",
    "disabled": "残疾人",
    "other": "其他",
}
COMPLETION_STATUSES = {"completed": "结业", "dropped": "退学", "in_progress": "在训"}
INSURANCE_TYPES = {
    "110": "企业职工基本养老保险",
    "120": "机关事业单位养老保险",
    "170": "城乡居民基本养老保险",
    "210": "失业保险",
    "310": "职工基本医疗保险",
    "410": "工伤保险",
    "510": "生育保险",
}
EMPLOYMENT_EVENTS = {
    "employment": "就业登记",
    "flexible_employment": "灵活就业登记",
    "entrepreneurship": "创业登记",
    "unemployment": "失业登记",
    "employment_end": "终止就业",
}
CERTIFICATE_TYPES = {
    "qualification": "职业资格证书",
    "skill_level": "职业技能等级证书",
    "special_ability": "专项职业能力证书",
}
CERTIFICATE_STATUSES = {"valid": "有效", "revoked": "撤销"}

# docs/policy.md, skill levels: rank, canonical name and the national level it corresponds to.
SKILL_LEVELS = {
    1: ("学徒工", None),
    2: ("初级工", "五级"),
    3: ("中级工", "四级"),
    4: ("高级工", "三级"),
    5: ("技师", "二级"),
    6: ("高级技师", "一级"),
    7: ("特级技师", None),
    8: ("首席技师", None),
}


def skill_level_spellings() -> list[str]:
    """Every accepted spelling of a skill level: the rank, the ladder name, the national level name."""
    spellings: list[str] = []
    for rank, (name, national) in SKILL_LEVELS.items():
        spellings += [str(rank), name] + ([national] if national else [])
    return spellings


TRAINING = Feed(
    name="training",
    label="培训实名制记录",
    natural_key=("enrollment_id",),
    columns=(
        Column("enrollment_id", "培训记录编号", Kind.TEXT),
        Column("class_id", "班级编号", Kind.TEXT),
        Column("id_number", "身份证号", Kind.RESIDENT_ID),
        Column("name", "姓名", Kind.TEXT),
        Column("institution_code", "培训机构代码", Kind.USCC),
        Column("institution_name", "培训机构名称", Kind.TEXT),
        Column("program_type", "培训类型", Kind.ENUM, choices=PROGRAM_TYPES),
        Column("trainee_category", "人员类别", Kind.ENUM, choices=TRAINEE_CATEGORIES),
        Column("occupation_code", "职业编码", Kind.OCCUPATION),
        # Empty for entrepreneurship training, which has no skill level.
        Column("skill_level", "技能等级", Kind.SKILL_LEVEL, required=False),
        Column("start_date", "开班日期", Kind.DATE),
        Column("end_date", "结业日期", Kind.DATE),
        Column("training_days", "培训天数", Kind.POSITIVE_INT),
        Column("completion_status", "结业状态", Kind.ENUM, choices=COMPLETION_STATUSES),
        Column("region_code", "培训地区划", Kind.REGION),
        Column("voucher_id", "电子券编号", Kind.TEXT, required=False),
        Column("updated_at", "更新时间", Kind.TIMESTAMP),
    ),
    row_rules=(NotBefore("end_date", "start_date"),),
    staging_model="stg_training__enrollments",
    # A class in training has a planned end date, up to a year ahead of the delivery.
    plausibility=(DateWindow("start_date"), DateWindow("end_date", days_after_delivery=366)),
)

SOCIAL_SECURITY = Feed(
    name="social_security",
    label="社保缴费记录",
    natural_key=("id_number", "employer_code", "insurance_type", "contribution_month"),
    raw_key_index=False,
    heavy=True,  # about 10 M rows a month
    staging_model="stg_social_security__contributions",
    columns=(
        Column("id_number", "身份证号", Kind.RESIDENT_ID),
        Column("name", "姓名", Kind.TEXT),
        # Empty for individually paid insurance.
        Column("employer_code", "单位代码", Kind.USCC, required=False),
        Column("region_code", "参保地", Kind.REGION),
        Column("insurance_type", "险种类型", Kind.ENUM, choices=INSURANCE_TYPES),
        Column("contribution_month", "费款所属期", Kind.MONTH),
        Column("contribution_base", "缴费基数", Kind.MONEY),
        Column("paid", "是否到账", Kind.BOOLEAN),
        Column("updated_at", "更新时间", Kind.TIMESTAMP),
    ),
    # A monthly base above 100,000 yuan is far over any province's cap (three times the average wage).
    plausibility=(DateWindow("contribution_month"), Ceiling("contribution_base", 100_000)),
)

EMPLOYMENT = Feed(
    name="employment",
    label="就业失业登记",
    natural_key=("registration_id",),
    columns=(
        Column("registration_id", "登记编号", Kind.TEXT),
        Column("id_number", "身份证号", Kind.RESIDENT_ID),
        Column("name", "姓名", Kind.TEXT),
        Column("event_type", "登记类型", Kind.ENUM, choices=EMPLOYMENT_EVENTS),
        Column("employer_code", "用工单位代码", Kind.USCC, required=False),
        Column("region_code", "登记地", Kind.REGION),
        Column("event_date", "登记日期", Kind.DATE),
        Column("monthly_income", "月收入", Kind.MONEY, required=False),
        Column("updated_at", "更新时间", Kind.TIMESTAMP),
    ),
    plausibility=(DateWindow("event_date"), Ceiling("monthly_income", 1_000_000)),
    staging_model="stg_employment__registrations",
)

CERTIFICATE = Feed(
    name="certificate",
    label="职业技能证书",
    natural_key=("certificate_id",),
    columns=(
        Column("certificate_id", "证书编号", Kind.TEXT),
        Column("id_number", "身份证号", Kind.RESIDENT_ID),
        Column("name", "姓名", Kind.TEXT),
        Column("certificate_type", "证书类型", Kind.ENUM, choices=CERTIFICATE_TYPES),
        Column("occupation_code", "职业编码", Kind.OCCUPATION),
        Column("occupation_name", "职业名称", Kind.TEXT),
        # Required except for special-ability certificates: a row rule below, not a property of the column.
        Column("skill_level", "技能等级", Kind.SKILL_LEVEL, required=False),
        Column("issue_date", "发证日期", Kind.DATE),
        Column("issuer_code", "评价机构代码", Kind.USCC),
        Column("region_code", "发证地", Kind.REGION),
        Column("status", "证书状态", Kind.ENUM, choices=CERTIFICATE_STATUSES),
        Column("updated_at", "更新时间", Kind.TIMESTAMP),
    ),
    row_rules=(
        RequiredUnless(
            "skill_level",
            "certificate_type",
            ("special_ability",),
            why="专项职业能力证书 has no level (docs/policy.md, skill levels); every other certificate names one",
        ),
    ),
    plausibility=(DateWindow("issue_date"),),
    staging_model="stg_certificate__certificates",
)

VOUCHER_EVENTS = {
    "applied": "申领",
    "issued": "发券",
    "started": "培训（评价）开始",
    "redeemed": "兑现",
    "written_off": "核销",
    "expired": "过期",
    "cancelled": "作废",
}

# 003 §五 and 002 §(四)4: the e-voucher's closed loop, one row per event of a voucher. A voucher written off twice
# is two rows, so the key is the event's own number, not the voucher and the kind of event.
VOUCHER = Feed(
    name="voucher",
    label="职业技能培训评价电子券",
    natural_key=("voucher_event_id",),
    columns=(
        Column("voucher_event_id", "券事件编号", Kind.TEXT),
        Column("voucher_id", "电子券编号", Kind.TEXT),
        Column("id_number", "身份证号", Kind.RESIDENT_ID),
        Column("name", "姓名", Kind.TEXT),
        Column("event_type", "事件类型", Kind.ENUM, choices=VOUCHER_EVENTS),
        Column("event_date", "事件日期", Kind.DATE),
        Column("program_type", "培训类型", Kind.ENUM, choices=PROGRAM_TYPES),
        Column("trainee_category", "人员类别", Kind.ENUM, choices=TRAINEE_CATEGORIES),
        Column("occupation_code", "职业编码", Kind.OCCUPATION),
        # Empty until the worker chooses where to train (an application names none).
        Column("institution_code", "培训机构代码", Kind.USCC, required=False),
        Column("amount_cap", "券面额上限", Kind.MONEY),
        Column("valid_until", "有效期至", Kind.DATE),
        Column("region_code", "发券地", Kind.REGION),
        Column("updated_at", "更新时间", Kind.TIMESTAMP),
    ),
    row_rules=(
        RequiredUnless(
            "institution_code",
            "event_type",
            ("applied", "issued", "expired", "cancelled"),
            why="a voucher is used with an institution: training, redemption and write-off name it",
        ),
    ),
    # An issued voucher is valid for up to a few years ahead of its delivery.
    plausibility=(
        DateWindow("event_date"),
        DateWindow("valid_until", days_after_delivery=3 * 366),
        Ceiling("amount_cap", 50_000),
    ),  # fmt: skip
    staging_model="stg_voucher__events",
)

CATALOGUE_ENTRIES = {
    "training_institution": "培训机构目录",
    "evaluation_institution": "评价机构目录",
    "training_project": "培训项目目录",
}
SUBSIDY_CLASSES = {"A": "A类", "B": "B类", "C": "C类"}

# 001 §三(七) and 003 §七(三): each year's published lists. A training institution has one row per licensed
# occupation; an evaluation institution one per occupation it is filed (备案) for; a project one per occupation and
# programme type.
CATALOGUE = Feed(
    name="catalogue",
    label="培训项目与机构目录清单",
    natural_key=("entry_id",),
    columns=(
        Column("entry_id", "目录条目编号", Kind.TEXT),
        Column("catalogue_year", "目录年度", Kind.POSITIVE_INT),
        Column("entry_kind", "目录类别", Kind.ENUM, choices=CATALOGUE_ENTRIES),
        Column("institution_code", "机构代码", Kind.USCC, required=False),
        Column("institution_name", "机构名称", Kind.TEXT, required=False),
        Column("region_code", "所在地区划", Kind.REGION),
        Column("occupation_code", "职业编码", Kind.OCCUPATION),
        Column("occupation_name", "职业名称", Kind.TEXT),
        Column("program_type", "培训类型", Kind.ENUM, choices=PROGRAM_TYPES, required=False),
        Column("subsidy_class", "补贴类别", Kind.ENUM, choices=SUBSIDY_CLASSES, required=False),
        Column("filing_number", "备案编号", Kind.TEXT, required=False),
        Column("valid_from", "有效期起", Kind.DATE),
        Column("valid_to", "有效期止", Kind.DATE),
        Column("updated_at", "更新时间", Kind.TIMESTAMP),
    ),
    row_rules=(
        NotBefore("valid_to", "valid_from"),
        RequiredUnless(
            "institution_code",
            "entry_kind",
            ("training_project",),
            why="the institution lists name the institution; the project catalogue lists occupations",
        ),
        RequiredUnless(
            "institution_name",
            "entry_kind",
            ("training_project",),
            why="a published institution list gives each institution's name",
        ),
    ),
    plausibility=(
        DateWindow("valid_from", days_after_delivery=366),
        DateWindow("valid_to", days_after_delivery=3 * 366),
    ),
    staging_model="stg_catalogue__entries",
    freshness_days=None,  # published once a year
)

COMPETITION_TIERS = {
    "national": "国家级",
    "provincial": "省级",
    "city": "市级",
    "county": "县级",
    "industry": "行业",
    "enterprise": "企业",
}

# 002 §(十一): competition results; a winner may be promoted in skill level and honoured (三晋技术能手).
COMPETITION = Feed(
    name="competition",
    label="职业技能竞赛获奖",
    natural_key=("award_id",),
    columns=(
        Column("award_id", "获奖记录编号", Kind.TEXT),
        Column("competition_name", "竞赛名称", Kind.TEXT),
        Column("tier", "竞赛级别", Kind.ENUM, choices=COMPETITION_TIERS),
        Column("occupation_code", "职业编码", Kind.OCCUPATION),
        Column("id_number", "身份证号", Kind.RESIDENT_ID),
        Column("name", "姓名", Kind.TEXT),
        Column("award", "名次或奖项", Kind.TEXT),
        Column("place", "名次", Kind.POSITIVE_INT, required=False),
        Column("honour", "荣誉称号", Kind.TEXT, required=False),
        # The level the winner is promoted to (晋升等级), when the competition's rules grant one.
        Column("promoted_level", "晋升技能等级", Kind.SKILL_LEVEL, required=False),
        Column("award_date", "获奖日期", Kind.DATE),
        Column("region_code", "竞赛地区划", Kind.REGION),
        Column("updated_at", "更新时间", Kind.TIMESTAMP),
    ),
    plausibility=(DateWindow("award_date"),),
    staging_model="stg_competition__awards",
    freshness_days=None,  # results arrive when competitions end
)

# The registry: everything that depends on which feeds exist (the ingestion DAG's task groups and Assets, the
# archive build's schedule, the landing folders, the GX suites, the raw tables, the generator, the CLI's choices)
# iterates over it. docs/feeds.md, "Adding a feed", lists what else a feed with staged records needs.
FEEDS: dict[str, Feed] = {
    f.name: f for f in (TRAINING, SOCIAL_SECURITY, EMPLOYMENT, CERTIFICATE, VOUCHER, CATALOGUE, COMPETITION)
}


def get_feed(name: str) -> Feed:
    try:
        return FEEDS[name]
    except KeyError:
        raise ValueError(f"unknown feed {name!r}; expected one of {', '.join(FEEDS)}") from None
