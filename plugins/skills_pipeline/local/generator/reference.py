"""Reference lists for synthetic people: real Shanxi division codes, names, occupations."""

# Current GB/T 2260 county-level codes of Shanxi used for synthetic residence and training places.
COUNTIES = {
    "140105": "小店区", "140106": "迎泽区", "140107": "杏花岭区", "140109": "万柏林区", "140121": "清徐县",
    "140181": "古交市", "140213": "平城区", "140221": "阳高县", "140403": "潞州区", "140525": "泽州县",
    "140581": "高平市", "140602": "朔城区", "140702": "榆次区", "140781": "介休市", "140802": "盐湖区",
    "140881": "永济市", "140902": "忻府区", "140981": "原平市", "141002": "尧都区", "141021": "曲沃县",
    "141023": "襄汾县", "141024": "洪洞县", "141081": "侯马市", "141082": "霍州市", "141102": "离石区",
    "141121": "文水县", "141124": "临县", "141125": "柳林县", "141181": "孝义市", "141182": "汾阳市",
}  # fmt: skip
# Liulin and Linfen dominate the synthetic population: the county plan (003) and city figures (004) are theirs.
COUNTY_WEIGHTS = {"141125": 12, "141002": 6, "141102": 4, "141124": 3}

# Division codes in force before Lüliang became a prefecture-level city: adults born there carry them.
HISTORICAL_PREFIX = {"141125": "142325", "141102": "142301", "141124": "142324", "141182": "142303"}
HISTORICAL_BEFORE_YEAR = 2004

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"  # noqa: E501
GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅志强玉兰海燕建华小红金凤文丽晓东鹏飞雪梅俊峰晋芳丽娟"  # noqa: E501
)

# A sample of the national occupation classification (2022 edition): (code, name, has levels).
OCCUPATIONS = [
    ("4-10-01-05", "养老护理员", True),
    ("4-10-01-06", "家政服务员", True),
    ("4-10-01-01", "保育师", True),
    ("4-03-02-01", "中式烹调师", True),
    ("4-03-02-02", "中式面点师", True),
    ("6-29-01-01", "砌筑工", True),
    ("6-28-01-14", "电工", True),
    ("6-18-02-04", "焊工", True),
    ("6-31-01-03", "汽车维修工", True),
    ("4-04-05-02", "电子商务师", True),
    ("5-01-02-01", "农艺工", True),
    ("4-14-02-03", "健康管理师", True),
    ("4-10-03-01", "美容师", True),
    ("4-07-03-02", "直播销售员", False),
    ("6-02-06-01", "面包制作", False),
]

EMPLOYER_INDUSTRY_WORDS = [
    "煤业",
    "焦化",
    "建筑工程",
    "物流",
    "商贸",
    "食品",
    "养老服务",
    "家政服务",
    "电子科技",
    "农业",
]
INSTITUTION_WORDS = ["职业培训学校", "技工学校", "职业技能培训中心", "家政培训学校", "技师学院"]
