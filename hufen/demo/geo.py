"""Reference geography for the demo: real provinces, cities, districts and their GB/T 2260 codes.

The district codes feed the first six digits of generated ID-card numbers, so a person's ID
region always lies in the province they live in. `since` marks districts created recently: a
person born before that year gets a code of an older district of the same city instead, as a
real ID number would.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class District:
    name: str
    code: str
    since: int = 0


@dataclass(frozen=True)
class City:
    key: str
    name: str
    province: str
    area_code: str
    plates: tuple[str, ...]
    districts: tuple[District, ...]

    @property
    def short(self) -> str:
        return self.name.removesuffix("市")


@dataclass(frozen=True)
class RegionSpec:
    code: str
    name: str
    provinces: tuple[str, ...]


@dataclass(frozen=True)
class DealerSpec:
    """One demo dealer: where it is and which of the two brands it sells ("m", "p" or "mp")."""

    city: str
    district: str
    road: str
    brands: str
    weight: float = 1.0


REGIONS: tuple[RegionSpec, ...] = (
    RegionSpec("east", "华东大区", ("上海市", "江苏省", "浙江省", "安徽省")),
    RegionSpec("south", "华南大区", ("广东省", "广西壮族自治区", "海南省", "福建省")),
    RegionSpec("north", "华北大区", ("北京市", "天津市", "河北省", "山西省", "内蒙古自治区", "山东省")),
    RegionSpec("central", "华中大区", ("河南省", "湖北省", "湖南省", "江西省")),
    RegionSpec(
        "west",
        "西部大区",
        ("重庆市", "四川省", "云南省", "贵州省", "陕西省", "甘肃省", "宁夏回族自治区", "新疆维吾尔自治区"),
    ),
    RegionSpec("northeast", "东北大区", ("辽宁省", "吉林省", "黑龙江省")),
)


def _d(*pairs: str) -> tuple[District, ...]:
    """`"西湖区:330106"` or `"滨江区:330108:1996"` → District."""
    out = []
    for pair in pairs:
        name, code, *since = pair.split(":")
        out.append(District(name, code, int(since[0]) if since else 0))
    return tuple(out)


# fmt: off
_CITIES: tuple[City, ...] = (
    # 华东
    City("shanghai", "上海市", "上海市", "021",
         ("沪A", "沪B", "沪D", "沪E", "沪F", "沪G", "沪H", "沪J", "沪K", "沪L"),
         _d("黄浦区:310101", "徐汇区:310104", "长宁区:310105", "静安区:310106", "普陀区:310107",
            "闵行区:310112", "宝山区:310113", "嘉定区:310114", "浦东新区:310115", "松江区:310117")),
    City("hangzhou", "杭州市", "浙江省", "0571", ("浙A",),
         _d("上城区:330102", "拱墅区:330105", "西湖区:330106", "滨江区:330108:1996", "萧山区:330109:2001",
            "余杭区:330110:2001")),
    City("ningbo", "宁波市", "浙江省", "0574", ("浙B",),
         _d("海曙区:330203", "江北区:330205", "北仑区:330206", "镇海区:330211", "鄞州区:330212:2002")),
    City("wenzhou", "温州市", "浙江省", "0577", ("浙C",), _d("鹿城区:330302", "龙湾区:330303", "瓯海区:330304:1992")),
    City("shaoxing", "绍兴市", "浙江省", "0575", ("浙D",),
         _d("越城区:330602", "柯桥区:330603:2013", "上虞区:330604:2013")),
    City("jiaxing", "嘉兴市", "浙江省", "0573", ("浙F",), _d("南湖区:330402", "秀洲区:330411")),
    City("nanjing", "南京市", "江苏省", "025", ("苏A",),
         _d("玄武区:320102", "秦淮区:320104", "建邺区:320105", "鼓楼区:320106", "栖霞区:320113",
            "雨花台区:320114", "江宁区:320115:2000")),
    City("suzhou", "苏州市", "江苏省", "0512", ("苏E", "苏U"),
         _d("虎丘区:320505", "吴中区:320506:2001", "相城区:320507:2001", "姑苏区:320508:2012",
            "吴江区:320509:2012", "昆山市:320583")),
    City("wuxi", "无锡市", "江苏省", "0510", ("苏B",),
         _d("锡山区:320205", "惠山区:320206", "滨湖区:320211:2000", "梁溪区:320213:2015", "新吴区:320214:2015")),
    City("hefei", "合肥市", "安徽省", "0551", ("皖A",),
         _d("瑶海区:340102", "庐阳区:340103", "蜀山区:340104", "包河区:340111")),
    # 华南
    City("guangzhou", "广州市", "广东省", "020", ("粤A",),
         _d("荔湾区:440103", "越秀区:440104", "海珠区:440105", "天河区:440106", "白云区:440111",
            "黄埔区:440112", "番禺区:440113:2000")),
    City("shenzhen", "深圳市", "广东省", "0755", ("粤B",),
         _d("罗湖区:440303", "福田区:440304", "南山区:440305", "宝安区:440306", "龙岗区:440307",
            "龙华区:440309:2016")),
    City("foshan", "佛山市", "广东省", "0757", ("粤E", "粤X", "粤Y"),
         _d("禅城区:440604", "南海区:440605", "顺德区:440606:2002")),
    City("dongguan", "东莞市", "广东省", "0769", ("粤S",),
         _d("南城街道:441900", "东城街道:441900", "莞城街道:441900", "松山湖:441900")),
    City("nanning", "南宁市", "广西壮族自治区", "0771", ("桂A",),
         _d("兴宁区:450102", "青秀区:450103", "江南区:450105", "西乡塘区:450107")),
    City("haikou", "海口市", "海南省", "0898", ("琼A",),
         _d("秀英区:460105", "龙华区:460106", "琼山区:460107", "美兰区:460108")),
    City("fuzhou", "福州市", "福建省", "0591", ("闽A",),
         _d("鼓楼区:350102", "台江区:350103", "仓山区:350104", "晋安区:350111")),
    City("xiamen", "厦门市", "福建省", "0592", ("闽D",),
         _d("思明区:350203", "海沧区:350205", "湖里区:350206", "集美区:350211")),
    City("quanzhou", "泉州市", "福建省", "0595", ("闽C",), _d("鲤城区:350502", "丰泽区:350503", "晋江市:350582")),
    # 华北
    City("beijing", "北京市", "北京市", "010",
         ("京A", "京C", "京E", "京F", "京H", "京J", "京K", "京L", "京M", "京N", "京P", "京Q"),
         _d("东城区:110101", "西城区:110102", "朝阳区:110105", "丰台区:110106", "石景山区:110107",
            "海淀区:110108", "通州区:110112:1997", "顺义区:110113:1998", "昌平区:110114:1999",
            "大兴区:110115:2001")),
    City("tianjin", "天津市", "天津市", "022", ("津A", "津B", "津C", "津D", "津E", "津F", "津G", "津H"),
         _d("和平区:120101", "河东区:120102", "河西区:120103", "南开区:120104", "河北区:120105",
            "东丽区:120110", "西青区:120111", "滨海新区:120116:2009")),
    City("shijiazhuang", "石家庄市", "河北省", "0311", ("冀A",),
         _d("长安区:130102", "桥西区:130104", "新华区:130105", "裕华区:130108")),
    City("taiyuan", "太原市", "山西省", "0351", ("晋A",),
         _d("小店区:140105", "迎泽区:140106", "杏花岭区:140107", "万柏林区:140109")),
    City("hohhot", "呼和浩特市", "内蒙古自治区", "0471", ("蒙A",),
         _d("新城区:150102", "回民区:150103", "玉泉区:150104", "赛罕区:150105")),
    City("jinan", "济南市", "山东省", "0531", ("鲁A",),
         _d("历下区:370102", "市中区:370103", "槐荫区:370104", "天桥区:370105", "历城区:370112")),
    City("qingdao", "青岛市", "山东省", "0532", ("鲁B",),
         _d("市南区:370202", "市北区:370203", "黄岛区:370211", "崂山区:370212", "李沧区:370213", "城阳区:370214")),
    City("yantai", "烟台市", "山东省", "0535", ("鲁F",), _d("芝罘区:370602", "福山区:370611", "莱山区:370613")),
    # 华中
    City("zhengzhou", "郑州市", "河南省", "0371", ("豫A",),
         _d("中原区:410102", "二七区:410103", "管城回族区:410104", "金水区:410105", "惠济区:410108")),
    City("wuhan", "武汉市", "湖北省", "027", ("鄂A",),
         _d("江岸区:420102", "江汉区:420103", "硚口区:420104", "汉阳区:420105", "武昌区:420106", "洪山区:420111")),
    City("changsha", "长沙市", "湖南省", "0731", ("湘A",),
         _d("芙蓉区:430102", "天心区:430103", "岳麓区:430104", "开福区:430105", "雨花区:430111")),
    City("nanchang", "南昌市", "江西省", "0791", ("赣A",),
         _d("东湖区:360102", "西湖区:360103", "青山湖区:360111", "红谷滩区:360113:2019")),
    # 西部
    City("chengdu", "成都市", "四川省", "028", ("川A",),
         _d("锦江区:510104", "青羊区:510105", "金牛区:510106", "武侯区:510107", "成华区:510108",
            "双流区:510116:2015")),
    City("chongqing", "重庆市", "重庆市", "023", ("渝A", "渝B", "渝D"),
         _d("渝中区:500103", "江北区:500105", "沙坪坝区:500106", "九龙坡区:500107", "南岸区:500108",
            "渝北区:500112")),
    City("kunming", "昆明市", "云南省", "0871", ("云A",),
         _d("五华区:530102", "盘龙区:530103", "官渡区:530111", "西山区:530112")),
    City("guiyang", "贵阳市", "贵州省", "0851", ("贵A",),
         _d("南明区:520102", "云岩区:520103", "观山湖区:520115:2012")),
    City("xian", "西安市", "陕西省", "029", ("陕A", "陕U"),
         _d("新城区:610102", "碑林区:610103", "莲湖区:610104", "未央区:610112", "雁塔区:610113")),
    City("lanzhou", "兰州市", "甘肃省", "0931", ("甘A",), _d("城关区:620102", "七里河区:620103", "安宁区:620105")),
    City("yinchuan", "银川市", "宁夏回族自治区", "0951", ("宁A",),
         _d("兴庆区:640104", "西夏区:640105", "金凤区:640106")),
    City("urumqi", "乌鲁木齐市", "新疆维吾尔自治区", "0991", ("新A",),
         _d("天山区:650102", "沙依巴克区:650103", "新市区:650104")),
    # 东北
    City("shenyang", "沈阳市", "辽宁省", "024", ("辽A",),
         _d("和平区:210102", "沈河区:210103", "大东区:210104", "皇姑区:210105", "铁西区:210106", "浑南区:210112")),
    City("dalian", "大连市", "辽宁省", "0411", ("辽B",),
         _d("中山区:210202", "西岗区:210203", "沙河口区:210204", "甘井子区:210211")),
    City("changchun", "长春市", "吉林省", "0431", ("吉A",),
         _d("南关区:220102", "宽城区:220103", "朝阳区:220104", "二道区:220105", "绿园区:220106")),
    City("harbin", "哈尔滨市", "黑龙江省", "0451", ("黑A",),
         _d("道里区:230102", "南岗区:230103", "道外区:230104", "香坊区:230110")),
)
# fmt: on
CITIES: dict[str, City] = {c.key: c for c in _CITIES}

# Sixty dealers. The first one is the demo dealer whose manager and butler are demo logins;
# `weight` is relative sales volume (flagship stores in large cities sell more).
# fmt: off
DEALERS: tuple[DealerSpec, ...] = (
    DealerSpec("hangzhou", "西湖区", "文三路", "mp", 1.6),
    DealerSpec("hangzhou", "上城区", "秋涛北路", "p", 1.2),
    DealerSpec("hangzhou", "萧山区", "市心北路", "m", 1.1),
    DealerSpec("ningbo", "鄞州区", "天童南路", "m", 1.1),
    DealerSpec("wenzhou", "鹿城区", "车站大道", "m"),
    DealerSpec("shaoxing", "越城区", "解放北路", "m", 0.8),
    DealerSpec("jiaxing", "南湖区", "中山东路", "m", 0.8),
    DealerSpec("shanghai", "浦东新区", "张杨路", "p", 1.5),
    DealerSpec("shanghai", "闵行区", "沪闵路", "mp", 1.5),
    DealerSpec("shanghai", "嘉定区", "曹安公路", "m", 1.2),
    DealerSpec("nanjing", "建邺区", "江东中路", "p", 1.2),
    DealerSpec("nanjing", "江宁区", "双龙大道", "m", 1.1),
    DealerSpec("suzhou", "吴中区", "东吴北路", "m", 1.2),
    DealerSpec("wuxi", "滨湖区", "太湖大道", "m"),
    DealerSpec("hefei", "蜀山区", "长江西路", "m", 1.1),
    DealerSpec("guangzhou", "天河区", "黄埔大道西", "p", 1.5),
    DealerSpec("guangzhou", "白云区", "白云大道北", "m", 1.3),
    DealerSpec("guangzhou", "番禺区", "番禺大道北", "m", 1.1),
    DealerSpec("shenzhen", "福田区", "深南大道", "mp", 1.5),
    DealerSpec("shenzhen", "龙岗区", "龙岗大道", "m", 1.3),
    DealerSpec("foshan", "南海区", "桂澜北路", "m", 1.1),
    DealerSpec("dongguan", "南城街道", "东莞大道", "m", 1.1),
    DealerSpec("nanning", "青秀区", "民族大道", "m", 0.9),
    DealerSpec("fuzhou", "仓山区", "福湾路", "m", 0.9),
    DealerSpec("xiamen", "湖里区", "嘉禾路", "p", 1.0),
    DealerSpec("quanzhou", "丰泽区", "泉秀路", "m", 0.8),
    DealerSpec("haikou", "龙华区", "龙昆南路", "m", 0.7),
    DealerSpec("beijing", "朝阳区", "建国路", "p", 1.5),
    DealerSpec("beijing", "海淀区", "西三环北路", "mp", 1.4),
    DealerSpec("beijing", "丰台区", "南四环西路", "m", 1.3),
    DealerSpec("tianjin", "河西区", "友谊路", "m", 1.1),
    DealerSpec("shijiazhuang", "裕华区", "槐安东路", "m", 0.9),
    DealerSpec("taiyuan", "小店区", "长风大街", "m", 0.8),
    DealerSpec("hohhot", "赛罕区", "昭乌达路", "m", 0.6),
    DealerSpec("jinan", "历下区", "经十路", "mp", 1.1),
    DealerSpec("qingdao", "崂山区", "香港东路", "m", 1.0),
    DealerSpec("yantai", "莱山区", "港城东大街", "m", 0.7),
    DealerSpec("zhengzhou", "金水区", "花园路", "p", 1.1),
    DealerSpec("zhengzhou", "中原区", "中原西路", "m", 1.1),
    DealerSpec("wuhan", "江汉区", "解放大道", "mp", 1.3),
    DealerSpec("wuhan", "洪山区", "珞喻路", "m", 1.1),
    DealerSpec("changsha", "岳麓区", "麓谷大道", "m", 1.1),
    DealerSpec("changsha", "雨花区", "万家丽中路", "p", 1.0),
    DealerSpec("nanchang", "红谷滩区", "红谷中大道", "m", 0.9),
    DealerSpec("chengdu", "武侯区", "人民南路", "p", 1.4),
    DealerSpec("chengdu", "青羊区", "蜀都大道", "m", 1.3),
    DealerSpec("chongqing", "渝北区", "金开大道", "mp", 1.3),
    DealerSpec("chongqing", "九龙坡区", "石杨路", "m", 1.1),
    DealerSpec("kunming", "官渡区", "春城路", "m", 0.9),
    DealerSpec("guiyang", "观山湖区", "林城西路", "m", 0.8),
    DealerSpec("xian", "雁塔区", "科技路", "p", 1.1),
    DealerSpec("xian", "未央区", "未央路", "m", 1.0),
    DealerSpec("lanzhou", "城关区", "东岗西路", "m", 0.6),
    DealerSpec("yinchuan", "金凤区", "正源北街", "m", 0.5),
    DealerSpec("urumqi", "沙依巴克区", "友好南路", "m", 0.5),
    DealerSpec("shenyang", "浑南区", "浑南中路", "mp", 1.1),
    DealerSpec("shenyang", "皇姑区", "北陵大街", "m", 0.9),
    DealerSpec("dalian", "沙河口区", "黄河路", "m", 0.9),
    DealerSpec("changchun", "朝阳区", "自由大路", "m", 0.8),
    DealerSpec("harbin", "南岗区", "红旗大街", "m", 0.8),
)
# fmt: on


def region_of_province(province: str) -> str:
    for region in REGIONS:
        if province in region.provinces:
            return region.code
    raise KeyError(province)
