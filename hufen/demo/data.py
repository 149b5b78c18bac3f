"""Reference lists for the demo: the brand group, its model range, colours and Chinese names.

The brands, series and WMIs are invented (no real trademark); the surname frequencies follow the
published census shares closely enough that the top ten cover about half of everybody.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BrandSpec:
    code: str
    name: str
    name_en: str
    positioning: str
    wmi: str  # invented world manufacturer identifier, used in every VIN of the brand
    colours: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SeriesSpec:
    """A model line; each (trim, model year) becomes one VehicleModel row."""

    brand: str
    series: str
    vds: str  # two VIN characters identifying the series
    body: str  # one VIN character: body type
    first_year: int
    last_year: int
    popularity: int
    trims: tuple[tuple[str, str, int], ...]  # (trim name, energy type, guide price in yuan)


# fmt: off
MASS = BrandSpec(
    code="yuanlan", name="远岚", name_en="Yuanlan", positioning="mass", wmi="LY9",
    colours=(("珍珠白", 30), ("曜石黑", 18), ("星河银", 12), ("天际灰", 14), ("极光蓝", 9), ("赤焰红", 7),
             ("薄荷绿", 4), ("香槟金", 4), ("暮光紫", 2)),
)
PREMIUM = BrandSpec(
    code="yaoqiong", name="曜穹", name_en="Yaoqiong", positioning="premium", wmi="LH8",
    colours=(("极地白", 24), ("深空黑", 26), ("星云灰", 20), ("冰川蓝", 10), ("暗夜绿", 8), ("月影银", 8),
             ("熔岩橙", 4)),
)
BRANDS = (MASS, PREMIUM)

SERIES: tuple[SeriesSpec, ...] = (
    SeriesSpec("yuanlan", "岚风", "F1", "A", 2012, 2026, 30, (
        ("1.5L CVT 舒适型", "ice", 79_800), ("1.5L CVT 豪华型", "ice", 89_800),
        ("1.5T 双擎混动 智享型", "hev", 119_800))),
    SeriesSpec("yuanlan", "岚境", "S3", "B", 2014, 2026, 32, (
        ("1.5T 两驱 精英型", "ice", 109_800), ("1.5T 两驱 旗舰型", "ice", 129_800),
        ("PHEV 105km 领航型", "phev", 139_800))),
    SeriesSpec("yuanlan", "岚途", "S7", "B", 2016, 2026, 12, (
        ("2.0T 四驱 尊享型", "ice", 169_800), ("PHEV 120km 四驱 旗舰型", "phev", 189_800))),
    SeriesSpec("yuanlan", "岚悦", "M6", "C", 2017, 2026, 6, (
        ("2.0T 商务版", "ice", 149_800), ("双擎混动 尊贵版", "hev", 179_800))),
    SeriesSpec("yuanlan", "岚电 E3", "E3", "A", 2021, 2026, 16, (
        ("401km 标准续航版", "bev", 89_800), ("510km 长续航版", "bev", 109_800))),
    SeriesSpec("yuanlan", "岚电 E5", "E5", "A", 2022, 2026, 14, (
        ("520km 智行版", "bev", 139_800), ("630km 智驾版", "bev", 159_800))),
    SeriesSpec("yaoqiong", "曜穹 C5", "C5", "A", 2012, 2024, 10, (
        ("2.0T 时尚型", "ice", 209_800), ("2.0T 运动型", "ice", 239_800))),
    SeriesSpec("yaoqiong", "曜穹 L6", "L6", "B", 2016, 2026, 14, (
        ("2.0T 两驱 豪华版", "ice", 229_800), ("插混 四驱 智驾版", "phev", 269_800))),
    SeriesSpec("yaoqiong", "曜穹 S7", "S7", "A", 2021, 2026, 12, (
        ("后驱 长续航版", "bev", 259_800), ("四驱 高性能版", "bev", 309_800))),
    SeriesSpec("yaoqiong", "曜穹 X9", "X9", "B", 2022, 2026, 9, (
        ("增程 六座 Max", "phev", 359_800), ("纯电 四驱 Ultra", "bev", 419_800))),
    SeriesSpec("yaoqiong", "曜穹 M8", "M8", "C", 2023, 2026, 4, (("混动 七座 行政版", "hev", 339_800),)),
)

# VIN position 10: the model year (the 30-year cycle skips I, O, Q, U, Z and 0).
VIN_YEAR_CODES = {
    2012: "C", 2013: "D", 2014: "E", 2015: "F", 2016: "G", 2017: "H", 2018: "J", 2019: "K", 2020: "L",
    2021: "M", 2022: "N", 2023: "P", 2024: "R", 2025: "S", 2026: "T", 2027: "V", 2028: "W",
}
# VIN position 11: the plant. A plant's serials run out after 900,000 cars, then the next one.
VIN_PLANTS = "ABCDEFGHJKLMNPRSTUVWXYZ123456789"
# VIN position 5 (after the series code): drive and energy.
VIN_ENERGY_CODES = {"ice": "1", "hev": "2", "phev": "3", "bev": "4"}

# Share of new-energy cars (PHEV + BEV) among the group's deliveries, by delivery year.
NEV_SHARE = {2012: 0.0, 2016: 0.02, 2019: 0.05, 2020: 0.06, 2021: 0.15, 2022: 0.25, 2023: 0.33,
             2024: 0.45, 2025: 0.52, 2026: 0.56}

# fmt: on


def nev_share(year: int) -> float:
    known = [y for y in NEV_SHARE if y <= year]
    return NEV_SHARE[max(known)] if known else 0.0


def price_band(msrp_yuan: int) -> str:
    if msrp_yuan < 100_000:
        return "a"
    if msrp_yuan < 150_000:
        return "b"
    if msrp_yuan < 200_000:
        return "c"
    if msrp_yuan < 300_000:
        return "d"
    return "e"


# --- names -------------------------------------------------------------------------------------

# fmt: off
# Shares per 10,000 people (rounded census figures), most common first.
SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 725), ("李", 719), ("张", 680), ("刘", 538), ("陈", 453), ("杨", 308), ("黄", 223), ("赵", 211),
    ("吴", 205), ("周", 199), ("徐", 168), ("孙", 154), ("马", 144), ("朱", 136), ("胡", 130), ("郭", 118),
    ("何", 116), ("林", 112), ("高", 108), ("罗", 100), ("郑", 97), ("梁", 90), ("谢", 84), ("宋", 79),
    ("唐", 77), ("许", 72), ("韩", 69), ("冯", 67), ("邓", 66), ("曹", 64), ("彭", 62), ("曾", 59),
    ("肖", 58), ("田", 55), ("董", 54), ("袁", 52), ("潘", 51), ("于", 50), ("蒋", 48), ("蔡", 47),
    ("余", 46), ("杜", 45), ("叶", 44), ("程", 43), ("苏", 42), ("魏", 41), ("吕", 40), ("丁", 39),
    ("任", 38), ("沈", 37), ("姚", 36), ("卢", 35), ("姜", 34), ("崔", 33), ("钟", 32), ("谭", 31),
    ("陆", 30), ("汪", 29), ("范", 28), ("金", 27), ("石", 26), ("廖", 25), ("贾", 25), ("夏", 24),
    ("韦", 24), ("付", 23), ("方", 23), ("白", 22), ("邹", 22), ("孟", 21), ("熊", 21), ("秦", 20),
    ("邱", 20), ("江", 19), ("尹", 19), ("薛", 18), ("闫", 18), ("段", 17), ("雷", 17), ("侯", 16),
    ("龙", 16), ("史", 15), ("陶", 15), ("黎", 15), ("贺", 14), ("顾", 14), ("毛", 14), ("郝", 13),
    ("龚", 13), ("邵", 13), ("万", 12), ("钱", 12), ("严", 12), ("覃", 11), ("武", 11), ("戴", 11),
    ("莫", 10), ("孔", 10), ("向", 10), ("汤", 10), ("单", 5), ("翟", 5), ("区", 2), ("仇", 2), ("查", 2),
    ("欧阳", 4), ("司马", 1), ("上官", 1), ("诸葛", 1), ("东方", 1), ("慕容", 1), ("夏侯", 1), ("司徒", 1),
)

# Given-name characters by sex and by the era a person was born in; fashions changed a lot.
_GIVEN = {
    ("M", "old"): ("建国军华明伟强平刚勇斌辉林峰波杰磊涛志海东红卫兵德永金国庆春生",
                   "国华军明强平伟刚勇斌辉林峰涛杰东红兵荣福生才民宝"),
    ("M", "mid"): ("晓志海建文俊家宇浩鹏超振天子永立亚新嘉少",
                   "伟强磊杰涛斌超明鹏飞宇辉峰亮健俊凯浩鑫帅龙军阳波"),
    ("M", "young"): ("子浩宇梓俊皓一思博睿泽家沐嘉逸铭承奕明",
                     "轩然豪宇睿泽辰航铭阳博涵瑞霖哲诚远杰"),
    ("F", "old"): ("秀桂玉淑凤丽素美春金翠红玲兰英桂月",
                   "英兰珍华芳梅霞琴凤莲云荣娟英香"),
    ("F", "mid"): ("晓丽雅佳婷静文美欣海艳雪春慧思秋",
                   "婷娜敏静丽雪琳颖洁燕倩慧萍红丹芳玲莉霞"),
    ("F", "young"): ("梓子欣诗语雨一可思若紫佳心依梦语",
                     "涵怡萱彤桐诺馨琪妍琳悦瑶婷琪冉菲"),
}
# Share of single-character given names by era (王伟, 李娜 are typical of the 1970s-80s).
SINGLE_GIVEN_SHARE = {"old": 0.40, "mid": 0.22, "young": 0.08}

# fmt: on


def given_pools(sex: str, era: str) -> tuple[str, str]:
    return _GIVEN[(sex, era)]


def era_of(birth_year: int) -> str:
    if birth_year < 1975:
        return "old"
    if birth_year < 1995:
        return "mid"
    return "young"


# --- places, channels, contacts -----------------------------------------------------------------

# fmt: off
COMMUNITIES = (
    "阳光花园", "锦绣华庭", "翠苑", "金色家园", "世纪新城", "枫林湾", "桃源居", "星河湾", "幸福里", "和平里",
    "望江苑", "紫荆花园", "香樟苑", "御景园", "华府天地", "滨江花园", "东方花园", "海棠湾", "康乐新村", "绿洲家园",
    "春江花月", "梧桐苑", "云栖小镇", "万象城", "天悦府", "玺园", "湖畔名邸", "书香门第", "映月台", "泊林公寓",
)
STREET_SUFFIXES = ("路", "街", "大道")
STREET_WORDS = ("人民", "解放", "中山", "建设", "新华", "和平", "文化", "青年", "光明", "朝阳", "东风", "长江",
                "黄河", "滨江", "建国", "学府", "迎宾", "世纪", "科技", "兴业", "花园", "胜利", "幸福", "金桥")

# Mobile prefixes of the three operators (China Mobile, Unicom, Telecom) and the 19x ranges.
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181", "182",
    "183", "184", "185", "186", "187", "188", "189", "191", "193", "195", "198", "199",
)
EMAIL_DOMAINS = (("qq.com", 40), ("163.com", 25), ("126.com", 10), ("sina.com", 5), ("outlook.com", 8),
                 ("foxmail.com", 7), ("139.com", 5))
# Where an owner's record first came from.
OWNER_SOURCES = (("dms", 55), ("wechat", 18), ("app", 12), ("lead", 10), ("event", 5))
PROSPECT_SOURCES = (("lead", 35), ("wechat", 25), ("app", 15), ("douyin", 15), ("event", 10))

VISIT_KINDS = (("maintenance", 70), ("repair", 15), ("inspection", 10), ("accessory", 5))
ASSIGNMENT_HANDOVER_REASONS = ("管家调岗交接", "网格调整", "车主申请更换管家", "管家离职交接")
# fmt: on
