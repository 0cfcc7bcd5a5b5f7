"""The demo world: who takes part in the flagship SME credit check, and what data they hold.

Everything here is synthetic and deterministic: ``write_world`` draws from ``random.Random``
streams derived from one seed and dates everything relative to the fixed ``REFERENCE_DATE``,
so the same seed always produces byte-identical files. Nothing here touches a database: it
describes organizations and accounts, and writes one CSV file and one schema YAML file per
dataset under ``<out_dir>/<domain>/``.

The enterprise population carries valid unified social credit codes (GB 32100-2015, including
the GB 11714 check character of the embedded organization code); legal representatives carry
valid resident identity numbers (GB 11643-1999). In every dataset a small share of credit
codes is written messily but normalizably (full-width, lower case, padded with spaces) and a
smaller share is invalid (wrong check character or wrong length), so that ingestion and
matching have rejections and match rates to report (DOMAIN.md, Identifiers).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from sandbox.datasets.schema import parse_schema
from sandbox.identifiers import (
    CREDIT_CODE_ALPHABET,
    IdentifierKind,
    check,
    credit_code_check_char,
    resident_id_check_char,
)

DEFAULT_SEED = 20261122
DEFAULT_ENTERPRISES = 5000
MIN_ENTERPRISES = 100
REFERENCE_DATE = dt.date(2026, 11, 1)
"""The world's "today": every generated date lies on or before it, whatever the clock says."""

INVALID_SHARE = 0.003
MESSY_SHARE = (0.01, 0.02)


# --------------------------------------------------------------------------- the parties


@dataclass(frozen=True, slots=True)
class OrgSpec:
    """An organization of the demo world; ``kind`` is bureau, provider, operator, bank or
    auditor."""

    slug: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """A demo login; ``role`` is bureau_admin, provider_cdo, operator, bank_analyst or
    auditor."""

    username: str
    org_slug: str
    role: str
    display_name: str


@dataclass(frozen=True, slots=True)
class DatasetFile:
    """One written dataset: its domain, owning organization, name and the two files."""

    domain: str
    org_slug: str
    name: str
    csv_path: Path
    schema_path: Path


ORG_KINDS = ("bureau", "provider", "operator", "bank", "auditor")
ROLES = ("bureau_admin", "provider_cdo", "operator", "bank_analyst", "auditor")

ORGANIZATIONS: tuple[OrgSpec, ...] = (
    OrgSpec("bureau", "Municipal Data Bureau 市数据局", "bureau"),
    OrgSpec("tax", "Municipal Tax Service 市税务局", "provider"),
    OrgSpec(
        "market", "Municipal Administration for Market Regulation 市市场监督管理局", "provider"
    ),
    OrgSpec(
        "social",
        "Municipal Human Resources and Social Security Bureau 市人力资源和社会保障局",
        "provider",
    ),
    OrgSpec("court", "Municipal Intermediate People's Court 市中级人民法院", "provider"),
    OrgSpec("operator", "City Data Group Co., Ltd. (state-owned) 市数据集团有限公司", "operator"),
    OrgSpec("bank-a", "Jinghua Commercial Bank 京华商业银行", "bank"),
    OrgSpec("bank-b", "Hengtong Rural Commercial Bank 恒通农村商业银行", "bank"),
    OrgSpec("bank-c", "Ruifeng Village Bank 瑞丰村镇银行", "bank"),
    OrgSpec(
        "auditor", "Qingming Third-Party Data Assessment Centre 清明数据第三方评估中心", "auditor"
    ),
)

ACCOUNTS: tuple[AccountSpec, ...] = (
    AccountSpec("bureau", "bureau", "bureau_admin", "Wang Fang 王芳 (Data Bureau)"),
    AccountSpec("tax-cdo", "tax", "provider_cdo", "Li Qiang 李强 (Tax CDO)"),
    AccountSpec("market-cdo", "market", "provider_cdo", "Zhang Min 张敏 (Market Regulation CDO)"),
    AccountSpec("social-cdo", "social", "provider_cdo", "Liu Yang 刘洋 (Social Insurance CDO)"),
    AccountSpec("court-cdo", "court", "provider_cdo", "Chen Jing 陈静 (Court CDO)"),
    AccountSpec("operator", "operator", "operator", "Zhao Lei 赵磊 (Data Group)"),
    AccountSpec("bank-a", "bank-a", "bank_analyst", "Huang Ting 黄婷 (Jinghua Bank)"),
    AccountSpec("bank-b", "bank-b", "bank_analyst", "Zhou Hao 周浩 (Hengtong Bank)"),
    AccountSpec("bank-c", "bank-c", "bank_analyst", "Wu Xue 吴雪 (Ruifeng Bank)"),
    AccountSpec("auditor", "auditor", "auditor", "Sun Li 孙丽 (Assessment Centre)"),
)

DATA_DOMAINS: tuple[tuple[str, str], ...] = (
    ("tax", "tax"),
    ("market", "market"),
    ("social", "social"),
    ("court", "court"),
    ("bank-a", "bank-a"),
    ("bank-b", "bank-b"),
    ("bank-c", "bank-c"),
)
# The output gate's domain: holds no data, only the per-job keys of encrypted aggregates.
GATE_DOMAINS: tuple[tuple[str, str], ...] = (("bureau", "bureau"),)


# --------------------------------------------------------------------------- vocabulary

# (city, city-level registration division or None, ((division, district name), ...), weight)
_CITIES: tuple[tuple[str, str | None, tuple[tuple[str, str], ...], float], ...] = (
    (
        "北京",
        None,
        (
            ("110101", "东城区"),
            ("110102", "西城区"),
            ("110105", "朝阳区"),
            ("110106", "丰台区"),
            ("110107", "石景山区"),
            ("110108", "海淀区"),
            ("110112", "通州区"),
            ("110114", "昌平区"),
        ),
        0.55,
    ),
    (
        "上海",
        None,
        (
            ("310101", "黄浦区"),
            ("310104", "徐汇区"),
            ("310105", "长宁区"),
            ("310106", "静安区"),
            ("310107", "普陀区"),
            ("310110", "杨浦区"),
            ("310115", "浦东新区"),
        ),
        0.15,
    ),
    (
        "深圳",
        "440300",
        (
            ("440303", "罗湖区"),
            ("440304", "福田区"),
            ("440305", "南山区"),
            ("440306", "宝安区"),
            ("440307", "龙岗区"),
        ),
        0.12,
    ),
    (
        "成都",
        "510100",
        (
            ("510104", "锦江区"),
            ("510105", "青羊区"),
            ("510106", "金牛区"),
            ("510107", "武侯区"),
            ("510108", "成华区"),
        ),
        0.10,
    ),
    (
        "杭州",
        "330100",
        (
            ("330102", "上城区"),
            ("330105", "拱墅区"),
            ("330106", "西湖区"),
            ("330108", "滨江区"),
        ),
        0.08,
    ),
)

# Birthplaces of legal representatives beyond the cities above.
_OTHER_BIRTHPLACES = ("130102", "320102", "370102", "410105", "420106", "430102", "500103")

_TRADE_NAMES: tuple[str, ...] = tuple(
    (
        "星河 华信 中科 博远 鼎盛 恒通 金桥 瑞丰 天择 明德 启航 远景 同创 "
        "蓝海 众邦 新元 宏图 睿智 锦程 汇通 鑫源 嘉禾 长风 云帆 青松 海纳 "
        "立信 正和 安达 东升 德润 佳美 万象 融信 智联 凯旋 诚达 易达 百川 "
        "盛世 和光 北辰 银河 泰和 康宁 福瑞 永安 晨光 卓越 翰林 知行 弘毅 "
        "致远 华章 良品 沃土 朗润 思源 清源 峰岚"
    ).split()
)

# industry (GB/T 4754 section), words for company names, shop types for individual businesses
_INDUSTRIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], float], ...] = (
    (
        "信息传输、软件和信息技术服务业",
        ("科技", "信息技术", "软件", "网络科技", "数据科技"),
        ("电脑维修部", "网络工作室"),
        0.18,
    ),
    (
        "制造业",
        ("机械制造", "电子", "新材料", "精密仪器", "包装制品"),
        ("加工坊", "五金加工部"),
        0.15,
    ),
    (
        "批发和零售业",
        ("商贸", "贸易", "供应链管理", "百货"),
        ("便利店", "百货商店", "食品店", "水果店"),
        0.20,
    ),
    ("建筑业", ("建设工程", "建筑装饰工程", "市政工程"), ("装饰工作室",), 0.08),
    ("交通运输、仓储和邮政业", ("物流", "运输", "仓储服务"), ("货运部", "快递服务部"), 0.06),
    ("住宿和餐饮业", ("餐饮管理", "酒店管理"), ("餐厅", "小吃店", "面馆", "茶餐厅"), 0.09),
    ("科学研究和技术服务业", ("生物技术", "检测技术", "环保科技"), ("技术服务部",), 0.07),
    (
        "租赁和商务服务业",
        ("企业管理咨询", "商务服务", "广告"),
        ("图文设计工作室", "家政服务部"),
        0.10,
    ),
    ("文化、体育和娱乐业", ("文化传媒", "文化发展", "体育发展"), ("摄影工作室", "健身房"), 0.04),
    ("农、林、牧、渔业", ("农业科技", "生态农业"), ("农资经营部",), 0.03),
)

# legal form, weight
_LEGAL_FORMS: tuple[tuple[str, float], ...] = (
    ("有限责任公司", 0.78),
    ("股份有限公司", 0.04),
    ("个人独资企业", 0.04),
    ("合伙企业", 0.04),
    ("个体工商户", 0.10),
)
_STATUSES = ("存续", "在业", "吊销", "注销")
_LIVE = frozenset({"存续", "在业"})
_TAX_GRADES = ("A", "B", "C", "D", "M")

_SURNAMES: tuple[str, ...] = tuple(
    (
        "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹"
    ).split()
)
_GIVEN_MALE: tuple[str, ...] = tuple(
    ("伟 强 磊 军 洋 勇 杰 涛 明 超 浩 鹏 建国 志强 俊杰 文博 子轩 宇航 晓东 海涛").split()
)
_GIVEN_FEMALE: tuple[str, ...] = tuple(
    ("芳 娜 敏 静 丽 艳 娟 霞 婷 雪 欣怡 梓涵 晓燕 丽华 秀英 佳琪 雨桐 思雨 慧敏 玉兰").split()
)

_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_NEW_CODE_SINCE = dt.date(2015, 10, 1)  # codes issued under the unified system start "MA"

_T = TypeVar("_T")


# --------------------------------------------------------------------------- the population


@dataclass(frozen=True, slots=True)
class _Enterprise:
    code: str
    name: str
    legal_form: str
    industry: str
    established_on: dt.date
    status: str
    capital_cents: int  # registered capital in 万元, times 100
    rep_id: str
    rep_name: str
    risk: float  # latent distress, 0 healthy .. 1 failing; drives every signal coherently
    staff: int

    @property
    def live(self) -> bool:
        return self.status in _LIVE


def _rng(seed: int, stream: str) -> random.Random:
    # A str seed is hashed with SHA-512 (independent of PYTHONHASHSEED): one stream per
    # concern, so changing one dataset's generator does not shift the others.
    return random.Random(f"{seed}:{stream}")  # noqa: S311  demo data, nothing secret


def _weighted(rng: random.Random, items: Sequence[tuple[_T, float]]) -> _T:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _day(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    if end <= start:
        return start
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _org_code_check(body: str) -> str:
    """GB 11714 check character of an 8-character organization code body."""
    total = sum(
        (int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10) * w
        for ch, w in zip(body, _ORG_CODE_WEIGHTS, strict=True)
    )
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def _credit_code(rng: random.Random, category: str, division: str, established: dt.date) -> str:
    if established >= _NEW_CODE_SINCE:
        body = "MA" + "".join(rng.choices(CREDIT_CODE_ALPHABET, k=6))
    else:
        body = "".join(rng.choices("0123456789", k=8))
    first17 = "9" + category + division + body + _org_code_check(body)
    return first17 + credit_code_check_char(first17)


def _person(rng: random.Random, home: str) -> tuple[str, str]:
    """A (resident id, name) pair: born 1958-2000, sex from the sequence digit's parity."""
    born = _day(rng, dt.date(1958, 1, 1), dt.date(2000, 12, 31))
    male = rng.random() < 0.68
    seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
    first17 = f"{home}{born:%Y%m%d}{seq:03d}"
    given = rng.choice(_GIVEN_MALE if male else _GIVEN_FEMALE)
    return first17 + resident_id_check_char(first17), rng.choice(_SURNAMES) + given


def _company_name(
    rng: random.Random,
    city: str,
    district: str,
    form: str,
    words: tuple[str, ...],
    shops: tuple[str, ...],
) -> str:
    trade = rng.choice(_TRADE_NAMES)
    if rng.random() < 0.35:
        trade += rng.choice(_TRADE_NAMES)
    if form == "个体工商户":
        return f"{district}{trade}{rng.choice(shops)}"
    word = rng.choice(words)
    if form == "股份有限公司":
        return f"{city}{trade}{word}股份有限公司"
    if form == "个人独资企业":
        return f"{city}{trade}{word}{rng.choice(('中心', '工作室', '经营部'))}"
    if form == "合伙企业":
        return f"{city}{trade}{rng.choice(('投资管理', '企业管理咨询', word))}中心（有限合伙）"
    return f"{city}{trade}{word}{rng.choice(('有限公司', '有限公司', '有限责任公司'))}"


def _capital_cents(rng: random.Random, form: str, staff: int) -> int:
    if form == "个体工商户":
        return rng.choice((1, 2, 3, 5, 10, 20, 30, 50)) * 100
    if form == "股份有限公司":
        return rng.choice((1000, 2000, 3000, 5000, 8000, 10000, 20000)) * 100
    if rng.random() < 0.7:
        round_ = rng.choice((10, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000))
        return round_ * 100 if staff < 50 or round_ >= 100 else round_ * 300
    return max(1, round(math.exp(rng.gauss(5.0, 1.2)))) * 100


def _status(rng: random.Random, risk: float, established: dt.date) -> str:
    if established > REFERENCE_DATE - dt.timedelta(days=365 * 2):
        return "存续" if rng.random() < 0.8 else "在业"
    roll = rng.random()
    if roll < 0.02 + 0.12 * risk:
        return "吊销"
    if roll < 0.06 + 0.15 * risk:
        return "注销"
    return "存续" if rng.random() < 0.78 else "在业"


def _population(seed: int, count: int) -> list[_Enterprise]:
    rng = _rng(seed, "population")
    codes: set[str] = set()
    names: set[str] = set()
    people: set[str] = set()
    out: list[_Enterprise] = []
    cities = [(c, w) for c, _, _, w in _CITIES]
    city_rows = {c: (lvl, d) for c, lvl, d, _ in _CITIES}
    industries = [((n, ws, sh), w) for n, ws, sh, w in _INDUSTRIES]
    while len(out) < count:
        city = _weighted(rng, cities)
        city_level, districts = city_rows[city]
        division, district = rng.choice(districts)
        form = _weighted(rng, _LEGAL_FORMS)
        if city_level is not None and form != "个体工商户" and rng.random() < 0.6:
            division = city_level  # e.g. most Shenzhen companies register at city level
        industry, words, shops = _weighted(rng, industries)
        established = _day(rng, dt.date(2000, 1, 1), REFERENCE_DATE - dt.timedelta(days=30))
        if rng.random() < 0.35:  # more recent registrations than old ones
            established = _day(rng, dt.date(2019, 1, 1), REFERENCE_DATE - dt.timedelta(days=30))
        code = _credit_code(rng, "2" if form == "个体工商户" else "1", division, established)
        name = _company_name(rng, city, district, form, words, shops)
        if code in codes or name in names:
            continue
        risk = rng.betavariate(1.5, 6.0)
        if form == "个体工商户":
            staff = rng.randint(1, 6)
        else:
            staff = max(1, round(math.exp(rng.gauss(2.3, 1.1))))
            if form == "股份有限公司":
                staff *= 6
        home = division if city_level != division else rng.choice(districts)[0]
        if rng.random() < 0.3:
            home = rng.choice(_OTHER_BIRTHPLACES)
        rep_id, rep_name = _person(rng, home)
        if rep_id in people:
            continue
        codes.add(code)
        names.add(name)
        people.add(rep_id)
        out.append(
            _Enterprise(
                code=code,
                name=name,
                legal_form=form,
                industry=industry,
                established_on=established,
                status=_status(rng, risk, established),
                capital_cents=_capital_cents(rng, form, staff),
                rep_id=rep_id,
                rep_name=rep_name,
                risk=risk,
                staff=staff,
            )
        )
    return out


def _outsider_codes(seed: int, stream: str, count: int, taken: set[str]) -> list[str]:
    """Valid credit codes of enterprises outside the population (registered elsewhere)."""
    rng = _rng(seed, stream)
    out: list[str] = []
    while len(out) < count:
        division = rng.choice(("120101", "120104", "130102", "320102", "440106", "500103"))
        established = _day(rng, dt.date(2005, 1, 1), dt.date(2025, 6, 30))
        code = _credit_code(rng, "1", division, established)
        if code not in taken:
            taken.add(code)
            out.append(code)
    return out


# --------------------------------------------------------------------------- formatting


Row = list[str]


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() else ch for ch in text)


def _messy(rng: random.Random, code: str) -> str:
    """A different spelling of ``code`` that normalization maps back to it."""
    style = rng.choice(("full_width", "lower", "spaces", "mixed"))
    if style == "lower" and code.lower() == code:
        style = "spaces"
    if style == "full_width":
        return _full_width(code)
    if style == "lower":
        return code.lower()
    if style == "spaces":
        return rng.choice((" ", "  ", "\u3000")) + code + rng.choice(("", " ", "  "))
    cut = rng.randint(4, 14)
    return " " + _full_width(code[:cut]) + code[cut:].lower()


def _invalid(rng: random.Random, code: str) -> str:
    """A malformed version of ``code``: a wrong check character, or a wrong length."""
    style = rng.choice(("check", "check", "short", "long"))
    if style == "check":
        return code[:17] + rng.choice([c for c in CREDIT_CODE_ALPHABET if c != code[17]])
    if style == "short":
        cut = rng.randrange(18)
        return code[:cut] + code[cut + 1 :]
    cut = rng.randrange(19)
    return code[:cut] + rng.choice("0123456789") + code[cut:]


def _dirty_identifiers(rng: random.Random, rows: list[Row], column: int = 0) -> None:
    """Spoil a few identifiers in place: about 1-2% messy, about 0.3% invalid (at least one
    of each, so every dataset has something to normalize and something to reject)."""
    if not rows:
        return
    invalid = max(1, round(len(rows) * INVALID_SHARE))
    messy = max(1, round(len(rows) * rng.uniform(*MESSY_SHARE)))
    picked = rng.sample(range(len(rows)), min(len(rows), invalid + messy))
    for n, i in enumerate(picked):
        spoil = _invalid if n < invalid else _messy
        rows[i][column] = spoil(rng, rows[i][column])


# --------------------------------------------------------------------------- the datasets


def _col(
    name: str,
    type_: str,
    description: str,
    *,
    sensitivity: str = "public",
    required: bool = False,
    values: Sequence[str] | None = None,
) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": type_, "sensitivity": sensitivity}
    if required:
        col["required"] = True
    col["description"] = description
    if values is not None:
        col["values"] = list(values)
    return col


def _credit_code_col() -> dict[str, Any]:
    return _col(
        "credit_code",
        "string",
        "Unified social credit code 统一社会信用代码 (GB 32100-2015).",
        required=True,
    )


def _tax_ratings(seed: int, people: list[_Enterprise]) -> tuple[dict[str, Any], list[Row]]:
    rng = _rng(seed, "tax")
    rows: list[Row] = []
    for e in people:
        if rng.random() >= (0.97 if e.live else 0.4):
            continue
        rated = _day(rng, dt.date(2026, 4, 1), dt.date(2026, 4, 30))
        if rng.random() < 0.12:  # not re-rated this cycle: last year's rating stands
            rated = _day(rng, dt.date(2025, 4, 1), dt.date(2025, 4, 30))
        if e.established_on >= rated:
            continue
        new = e.established_on >= dt.date(rated.year - 1, 1, 1)
        score = e.risk + rng.gauss(0.0, 0.06)
        if e.status == "吊销":
            score += 0.4
        if new:
            grade = "M"
        elif score < 0.11:
            grade = "A"
        elif score < 0.34:
            grade = "B"
        elif score < 0.5:
            grade = "C"
        else:
            grade = "D"
        arrears = rng.random() < {"A": 0.0, "B": 0.02, "C": 0.2, "D": 0.65, "M": 0.03}[grade]
        yuan_per_head = rng.uniform(6_000, 40_000) * (1.0 - 0.7 * e.risk)
        if not e.live:
            yuan_per_head *= 0.1
        months_open = (rated - e.established_on).days // 30
        active = min(12, months_open) if new else 12
        if e.risk > 0.3 or not e.live:
            active = max(0, active - rng.randint(0, 8))
        paid = round(e.staff * yuan_per_head * (active / 12) * 100)
        rows.append([e.code, grade, _bool(arrears), _money(paid), str(active), rated.isoformat()])
    _dirty_identifiers(rng, rows)
    schema = {
        "name": "tax_ratings",
        "title": "Taxpayer credit ratings 纳税信用评价",
        "description": (
            "Annual taxpayer credit rating per enterprise (A/B/C/D, M for newly established "
            "taxpayers), tax arrears flag, tax paid in the last year and months with invoicing "
            "activity. Maintained by the tax service; ratings are published each April."
        ),
        "openness": "conditional",
        "grade": "important",
        "identifier": {"column": "credit_code", "kind": "credit_code"},
        "freshness_column": "rated_on",
        "columns": [
            _credit_code_col(),
            _col(
                "tax_credit_grade",
                "category",
                "Taxpayer credit grade 纳税信用等级.",
                required=True,
                values=_TAX_GRADES,
            ),
            _col("arrears", "boolean", "Has outstanding tax arrears 欠税.", required=True),
            _col(
                "tax_paid_last_year",
                "decimal",
                "Tax paid in the last year, CNY 上年度纳税额. Taxpayer confidential: never "
                "enters a computation.",
                sensitivity="trade_secret",
            ),
            _col(
                "invoice_months_active",
                "integer",
                "Months of the last twelve with issued invoices 开票活跃月数 (0-12).",
            ),
            _col("rated_on", "date", "Date the rating was issued 评价日期.", required=True),
        ],
    }
    return schema, rows


def _enterprise_registry(seed: int, people: list[_Enterprise]) -> tuple[dict[str, Any], list[Row]]:
    rng = _rng(seed, "market")
    rows: list[Row] = [
        [
            e.code,
            e.name,
            e.legal_form,
            e.industry,
            _money(e.capital_cents),
            e.established_on.isoformat(),
            e.status,
            e.rep_name,
            e.rep_id,
        ]
        for e in people
    ]
    _dirty_identifiers(rng, rows)
    schema = {
        "name": "enterprise_registry",
        "title": "Enterprise registration 市场主体登记信息",
        "description": (
            "Registered market entities: name, legal form, industry (GB/T 4754 section), "
            "registered capital, date of establishment, registration status and legal "
            "representative. Maintained by the administration for market regulation."
        ),
        "openness": "conditional",
        "grade": "important",
        "identifier": {"column": "credit_code", "kind": "credit_code"},
        "freshness_column": "established_on",
        "columns": [
            _credit_code_col(),
            _col("name", "string", "Registered name 企业名称.", required=True),
            _col(
                "legal_form",
                "category",
                "Legal form 企业类型.",
                required=True,
                values=[f for f, _ in _LEGAL_FORMS],
            ),
            _col(
                "industry",
                "category",
                "Industry, GB/T 4754 section 行业门类.",
                values=[i for i, _, _, _ in _INDUSTRIES],
            ),
            _col("registered_capital", "decimal", "Registered capital, 万元 CNY 注册资本."),
            _col("established_on", "date", "Date of establishment 成立日期.", required=True),
            _col(
                "status",
                "category",
                "Registration status 登记状态.",
                required=True,
                values=_STATUSES,
            ),
            _col(
                "legal_rep_name",
                "string",
                "Name of the legal representative 法定代表人姓名.",
                sensitivity="personal",
            ),
            _col(
                "legal_rep_id",
                "string",
                "Resident identity number of the legal representative 法定代表人身份证号 "
                "(GB 11643-1999). Sensitive personal information: never enters a computation.",
                sensitivity="personal_sensitive",
            ),
        ],
    }
    return schema, rows


def _months_before(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, min(day.day, 28))


def _social_insurance(seed: int, people: list[_Enterprise]) -> tuple[dict[str, Any], list[Row]]:
    rng = _rng(seed, "social")
    rows: list[Row] = []
    for e in people:
        if rng.random() >= (0.9 if e.live else 0.45):
            continue
        if e.live:
            headcount = max(0, round(e.staff * rng.uniform(0.65, 1.0)))
            if e.risk > 0.35 and rng.random() < 0.6:
                arrears = rng.randint(1, 9)
            else:
                arrears = 1 if rng.random() < 0.04 else 0
            paid = _months_before(REFERENCE_DATE, arrears + 1).replace(day=rng.randint(5, 25))
        else:  # a closed or struck-off enterprise stopped paying at some point
            headcount, arrears = 0, 0
            paid = _day(rng, dt.date(2020, 1, 1), REFERENCE_DATE - dt.timedelta(days=90))
        if paid < e.established_on:
            paid, arrears = _day(rng, e.established_on, REFERENCE_DATE), 0
        rows.append([e.code, str(headcount), str(arrears), paid.isoformat()])
    _dirty_identifiers(rng, rows)
    schema = {
        "name": "social_insurance",
        "title": "Employer social-insurance contributions 单位社会保险缴费",
        "description": (
            "Per employer: number of insured employees, months of contribution arrears and "
            "the date of the last contribution. Maintained by the human resources and social "
            "security bureau."
        ),
        "openness": "conditional",
        "grade": "important",
        "identifier": {"column": "credit_code", "kind": "credit_code"},
        "freshness_column": "last_paid_on",
        "columns": [
            _credit_code_col(),
            _col("insured_headcount", "integer", "Insured employees 参保人数.", required=True),
            _col(
                "contribution_arrears_months",
                "integer",
                "Months of unpaid contributions 欠缴月数.",
                required=True,
            ),
            _col("last_paid_on", "date", "Date of the last contribution 最近缴费日期."),
        ],
    }
    return schema, rows


def _judgments(seed: int, people: list[_Enterprise]) -> tuple[dict[str, Any], list[Row]]:
    rng = _rng(seed, "court")
    rows: list[Row] = []
    for e in people:
        if rng.random() >= 0.04 + 0.55 * e.risk:
            continue
        count = 1
        while rng.random() < 0.25 + 0.5 * e.risk and count < 40:
            count += 1
        enforcement = rng.random() < 0.15 + e.risk
        dishonest = enforcement and rng.random() < 1.2 * e.risk
        last = _day(rng, max(e.established_on, dt.date(2018, 1, 1)), REFERENCE_DATE)
        rows.append([e.code, str(count), _bool(enforcement), _bool(dishonest), last.isoformat()])
    _dirty_identifiers(rng, rows)
    schema = {
        "name": "judgments",
        "title": "Civil and commercial judgments and enforcement 涉诉及执行信息",
        "description": (
            "Per enterprise that appeared as a defendant: number of judgments, whether an "
            "enforcement case is open, whether it is listed as a dishonest judgment debtor "
            "(失信被执行人), and the date of the latest judgment. Maintained by the court."
        ),
        "openness": "conditional",
        "grade": "general",
        "identifier": {"column": "credit_code", "kind": "credit_code"},
        "freshness_column": "last_judgment_on",
        "columns": [
            _credit_code_col(),
            _col(
                "judgments_as_defendant",
                "integer",
                "Judgments as defendant 被告案件数.",
                required=True,
            ),
            _col(
                "enforcement_open",
                "boolean",
                "An enforcement case is open 存在未结执行案件.",
                required=True,
            ),
            _col(
                "dishonest_debtor",
                "boolean",
                "Listed as a dishonest judgment debtor 失信被执行人.",
                required=True,
            ),
            _col("last_judgment_on", "date", "Date of the latest judgment 最近判决日期."),
        ],
    }
    return schema, rows


def _bank_title(slug: str) -> str:
    return next(o.name for o in ORGANIZATIONS if o.slug == slug)


def _applicants(
    seed: int,
    slug: str,
    people: list[_Enterprise],
    favoured: Sequence[_Enterprise],
    outsiders: Sequence[str],
) -> tuple[dict[str, Any], list[Row]]:
    """A bank's SME loan applicants: mostly enterprises of the population (some already
    borrowing elsewhere), a few registered outside it."""
    rng = _rng(seed, f"{slug}:applicants")
    live = [e for e in people if e.live]
    total = max(len(outsiders) + 10, round(len(people) * rng.uniform(0.06, 0.12)))
    chosen: dict[str, str] = {}
    pool_favoured = [e for e in favoured if e.live]
    for e in rng.sample(pool_favoured, min(len(pool_favoured), total // 4)):
        chosen[e.code] = e.name
    while len(chosen) < total - len(outsiders):
        e = rng.choice(live)
        chosen.setdefault(e.code, e.name)
    name_rng = _rng(seed, f"{slug}:outsider-names")
    for code in outsiders:
        chosen[code] = _company_name(
            name_rng,
            rng.choice(("天津", "南京", "广州", "重庆")),
            "",
            "有限责任公司",
            rng.choice(_INDUSTRIES)[1],
            (),
        )
    entries = [
        (_day(rng, REFERENCE_DATE - dt.timedelta(days=150), REFERENCE_DATE), code, name)
        for code, name in chosen.items()
    ]
    entries.sort(key=lambda t: (t[0], t[1]))
    letter = slug.rsplit("-", 1)[-1].upper()
    rows: list[Row] = [
        [
            code,
            name,
            f"AUTH-{letter}-{n:06d}",
            _money(rng.randint(10, 500) * 10_000 * 100),
            applied.isoformat(),
        ]
        for n, (applied, code, name) in enumerate(entries, start=1)
    ]
    _dirty_identifiers(rng, rows)
    bank = _bank_title(slug)
    schema = {
        "name": "applicants",
        "title": f"SME loan applicants 小微企业贷款申请 — {bank}",
        "description": (
            f"The bank's own list of SME loan applicants ({bank}), each with the reference of "
            "the enterprise's authorization for a credit check (授权查询). Stays in the bank's "
            "domain; only used as the bank's side of a private lookup."
        ),
        "openness": "closed",
        "grade": "core",
        "identifier": {"column": "credit_code", "kind": "credit_code"},
        "freshness_column": "applied_on",
        "columns": [
            _credit_code_col(),
            _col("applicant_name", "string", "Registered name of the applicant 申请企业名称."),
            _col(
                "authorization_ref",
                "string",
                "Reference of the enterprise's credit-check authorization 授权编号.",
                required=True,
            ),
            _col("requested_amount", "decimal", "Requested loan amount, CNY 申请金额."),
            _col("applied_on", "date", "Date of application 申请日期.", required=True),
        ],
    }
    return schema, rows


def _loan_book(
    seed: int,
    slug: str,
    borrowers: Sequence[_Enterprise],
) -> tuple[dict[str, Any], list[Row]]:
    rng = _rng(seed, f"{slug}:loan_book")
    rows: list[Row] = []  # one per loan: a borrower listed twice has two loans
    for e in borrowers:
        capital_yuan = e.capital_cents * 100  # 万元 × 100 → yuan
        scale = 200_000 if e.legal_form == "个体工商户" else max(capital_yuan, 300_000)
        balance = round(min(scale * rng.uniform(0.1, 0.8), 10_000_000) / 1000) * 1000
        balance = max(balance, 30_000)  # an SME loan: between 30 thousand and 10 million yuan
        overdue = 0
        if rng.random() < 0.05 + 0.9 * max(0.0, e.risk - 0.2):
            overdue = rng.choice((rng.randint(1, 30), rng.randint(31, 90), rng.randint(91, 360)))
        booked = _day(
            rng,
            max(e.established_on, REFERENCE_DATE - dt.timedelta(days=3 * 365)),
            REFERENCE_DATE - dt.timedelta(days=7),
        )
        rows.append([e.code, _money(balance * 100), str(overdue), booked.isoformat()])
    _dirty_identifiers(rng, rows)
    bank = _bank_title(slug)
    schema = {
        "name": "loan_book",
        "title": f"Outstanding SME loans 小微企业贷款余额 — {bank}",
        "description": (
            f"The bank's outstanding SME loans ({bank}), one row per loan (a borrower may have "
            "several): balance, days overdue and the date of the booking. Confidential to the "
            "bank: enters a multi-lender total (多头借贷) only as an encrypted contribution."
        ),
        "openness": "closed",
        "grade": "core",
        "identifier": {"column": "credit_code", "kind": "credit_code"},
        "freshness_column": "booked_on",
        "columns": [
            _credit_code_col(),
            _col(
                "outstanding_balance",
                "decimal",
                "Outstanding balance, CNY 贷款余额.",
                required=True,
            ),
            _col(
                "overdue_days", "integer", "Days past due 逾期天数 (0 if current).", required=True
            ),
            _col("booked_on", "date", "Date of the latest loan booking 最近放款日期."),
        ],
    }
    return schema, rows


def _third_book(
    seed: int,
    people: list[_Enterprise],
    applicants_a: list[Row],
    applicants_b: list[Row],
    book_a: Sequence[_Enterprise],
    book_b: Sequence[_Enterprise],
) -> list[_Enterprise]:
    """bank-c's borrowers, so that a bank asking for its applicants' exposure has two other
    lenders to count: most of bank-a's applicants who already owe bank-b, and half of bank-b's
    who owe bank-a (those have two lenders besides the asking bank), some of both banks' other
    applicants, a few other firms; about one borrower in ten has two loans."""
    rng = _rng(seed, "bank-c:borrowers")
    live = {e.code: e for e in people if e.live}

    def codes(rows: list[Row]) -> list[str]:
        out = []
        for row in rows:
            value = check(IdentifierKind.CREDIT_CODE, row[0]).value
            if value is not None and value in live:
                out.append(value)
        return out

    in_a, in_b = {e.code for e in book_a}, {e.code for e in book_b}
    chosen: dict[str, _Enterprise] = {}
    for applicants, other, share in (
        (codes(applicants_a), in_b, 0.8),
        (codes(applicants_b), in_a, 0.5),
    ):
        owing = [c for c in applicants if c in other]
        rest = [c for c in applicants if c not in other]
        for code in rng.sample(owing, round(len(owing) * share)) + rng.sample(
            rest, round(len(rest) * 0.3)
        ):
            chosen.setdefault(code, live[code])
    pool = [e for code, e in live.items() if code not in chosen]
    for e in rng.sample(pool, min(len(pool), round(len(people) * 0.03))):
        chosen[e.code] = e
    borrowers = list(chosen.values())
    rng.shuffle(borrowers)
    borrowers += rng.sample(borrowers, max(1, len(borrowers) // 10))  # second loans
    return borrowers


# --------------------------------------------------------------------------- writing


def _header(schema: dict[str, Any]) -> Row:
    return [str(c["name"]) for c in schema["columns"]]


def _write(
    out_dir: Path,
    domain: str,
    schema: dict[str, Any],
    rows: list[Row],
) -> DatasetFile:
    parse_schema(schema)  # what we write must load
    folder = out_dir / domain
    folder.mkdir(parents=True, exist_ok=True)
    name = str(schema["name"])
    csv_path = folder / f"{name}.csv"
    schema_path = folder / f"{name}.schema.yaml"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(_header(schema))
        writer.writerows(rows)
    text = yaml.safe_dump(schema, allow_unicode=True, sort_keys=False, width=100)
    schema_path.write_text(text, encoding="utf-8", newline="\n")
    return DatasetFile(domain, domain, name, csv_path, schema_path)


def write_world(
    out_dir: Path,
    *,
    seed: int = DEFAULT_SEED,
    enterprises: int = DEFAULT_ENTERPRISES,
) -> list[DatasetFile]:
    """Generate the demo datasets of every data domain and write them under ``out_dir``.

    Returns the written datasets, providers first (tax, market, social, court), then each
    bank's applicants and loan book (bank-c, a village bank, has a loan book only). The same
    ``seed`` and ``enterprises`` always produce byte-identical files.
    """
    if enterprises < MIN_ENTERPRISES:
        raise ValueError(f"the demo world needs at least {MIN_ENTERPRISES} enterprises")
    people = _population(seed, enterprises)

    # Two loan books that partly overlap: some borrowers owe both banks (多头借贷).
    rng = _rng(seed, "banks")
    live = [e for e in people if e.live]
    book_a = rng.sample(live, round(len(people) * 0.11))
    in_a = {e.code for e in book_a}
    shared = rng.sample(book_a, round(len(book_a) * 0.3))
    others = [e for e in live if e.code not in in_a]
    book_b = shared + rng.sample(others, round(len(people) * 0.07))
    rng.shuffle(book_b)

    taken = {e.code for e in people}
    out_a = _outsider_codes(seed, "bank-a:outsiders", max(2, enterprises // 400), taken)
    out_b = _outsider_codes(seed, "bank-b:outsiders", max(2, enterprises // 400), taken)
    applicants_a = _applicants(seed, "bank-a", people, book_b, out_a)
    applicants_b = _applicants(seed, "bank-b", people, book_a, out_b)
    book_c = _third_book(seed, people, applicants_a[1], applicants_b[1], book_a, book_b)

    generators: list[tuple[str, Callable[[], tuple[dict[str, Any], list[Row]]]]] = [
        ("tax", lambda: _tax_ratings(seed, people)),
        ("market", lambda: _enterprise_registry(seed, people)),
        ("social", lambda: _social_insurance(seed, people)),
        ("court", lambda: _judgments(seed, people)),
        ("bank-a", lambda: applicants_a),
        ("bank-a", lambda: _loan_book(seed, "bank-a", book_a)),
        ("bank-b", lambda: applicants_b),
        ("bank-b", lambda: _loan_book(seed, "bank-b", book_b)),
        ("bank-c", lambda: _loan_book(seed, "bank-c", book_c)),
    ]
    written: list[DatasetFile] = []
    for domain, generate in generators:
        schema, rows = generate()
        written.append(_write(out_dir, domain, schema, rows))
    return written
