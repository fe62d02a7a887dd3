"""The words of the report, in English and Chinese (simplified)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "title": {"en": "Product carbon footprint report", "zh": "产品碳足迹报告"},
    "subtitle": {
        "en": "ISO 14067:2018 / GB/T 24067-2024",
        "zh": "依据 ISO 14067:2018 / GB/T 24067-2024",
    },
    "company": {"en": "Company", "zh": "企业"},
    "product": {"en": "Product", "zh": "产品"},
    "model": {"en": "Model", "zh": "型号"},
    "footprint_id": {"en": "Footprint id", "zh": "碳足迹编号"},
    "calculated_at": {"en": "Calculated", "zh": "计算时间"},
    "site": {"en": "Production site", "zh": "生产地点"},
    "reference_period": {"en": "Reference period", "zh": "数据参考期"},
    "s_product": {"en": "1. Product and rule", "zh": "1. 产品与产品种类规则"},
    "rule": {"en": "Product category rule", "zh": "产品种类规则"},
    "rule_hash": {"en": "Rule content hash", "zh": "规则内容哈希"},
    "standards": {"en": "Standards", "zh": "依据标准"},
    "release": {"en": "Background-data release", "zh": "背景数据版本"},
    "method": {"en": "Impact method", "zh": "影响评价方法"},
    "gwp": {"en": "GWP100 set", "zh": "GWP100 取值"},
    "libraries": {"en": "Software", "zh": "计算软件"},
    "input_hash": {"en": "Input hash", "zh": "输入数据哈希"},
    "s_unit": {"en": "2. Functional unit and boundary", "zh": "2. 功能单位与系统边界"},
    "functional_unit": {"en": "Functional unit", "zh": "功能单位"},
    "declared_unit": {"en": "Declared unit", "zh": "声明单位"},
    "reference_flow": {"en": "Reference flow", "zh": "基准流"},
    "boundary": {"en": "System boundary", "zh": "系统边界"},
    "cradle_to_grave": {"en": "cradle to grave", "zh": "从摇篮到坟墓"},
    "cradle_to_gate": {"en": "cradle to gate (partial CFP)", "zh": "从摇篮到大门（部分碳足迹）"},
    "stages_included": {"en": "Life-cycle stages included", "zh": "包含的生命周期阶段"},
    "s_results": {"en": "3. Results", "zh": "3. 结果"},
    "total": {"en": "Carbon footprint", "zh": "碳足迹"},
    "per_unit": {"en": "Per unit", "zh": "按单位"},
    "unit": {"en": "Unit", "zh": "单位"},
    "amount": {"en": "Amount", "zh": "数量"},
    "kgco2e": {"en": "kg CO2e", "zh": "kg CO2e"},
    "share": {"en": "Share", "zh": "占比"},
    "by_stage": {"en": "By life-cycle stage", "zh": "按生命周期阶段"},
    "stage": {"en": "Stage", "zh": "阶段"},
    "by_gas": {"en": "By gas", "zh": "按温室气体"},
    "gas": {"en": "Gas", "zh": "气体"},
    "gas_note": {
        "en": "Gases of the background processes (characterised with the GWP100 set above); "
        "primary data and literal factors are CO2e only.",
        "zh": "背景过程的温室气体（按上述 GWP100 特征化）；初级数据与直接因子仅有 CO2e 合计。",
    },
    "indicators": {
        "en": "Fossil, biogenic and land use, reported separately",
        "zh": "化石、生物源与土地利用（分别报告）",
    },
    "packaging": {"en": "Packaging", "zh": "包装"},
    "chart_stages": {"en": "Footprint by life-cycle stage", "zh": "各生命周期阶段碳足迹"},
    "chart_contributors": {"en": "Largest contributors", "zh": "主要贡献项"},
    "s_hotspots": {"en": "4. Hotspots", "zh": "4. 热点分析"},
    "contributor": {"en": "Contributor", "zh": "贡献项"},
    "dataset": {"en": "Dataset", "zh": "数据集"},
    "processes": {"en": "Background processes", "zh": "背景过程"},
    "location": {"en": "Location", "zh": "地点"},
    "s_dq": {"en": "5. Data quality and uncertainty", "zh": "5. 数据质量与不确定性"},
    "dqr": {"en": "Data quality rating (DQR)", "zh": "数据质量评级（DQR）"},
    "rating": {"en": "Rating", "zh": "等级"},
    "dq_method": {"en": "Method", "zh": "方法"},
    "primary_share": {"en": "Primary (site-specific) data share", "zh": "初级（现场）数据占比"},
    "dq_coverage": {"en": "Contributors rated / coverage", "zh": "评级贡献项 / 覆盖率"},
    "max_dqr": {"en": "Rule's maximum DQR", "zh": "规则要求的最大 DQR"},
    "uncertainty": {"en": "Uncertainty", "zh": "不确定性"},
    "interval": {"en": "95 % interval", "zh": "95 % 区间"},
    "mean_sd": {"en": "Mean / standard deviation", "zh": "均值 / 标准差"},
    "iterations": {"en": "Iterations (seed)", "zh": "迭代次数（随机种子）"},
    "s_sources": {"en": "6. Data sources and licences", "zh": "6. 数据来源与许可"},
    "source": {"en": "Source", "zh": "来源"},
    "licence": {"en": "Licence", "zh": "许可"},
    "no_catalogue": {
        "en": "The background-data catalogue is not loaded: dataset ids only.",
        "zh": "背景数据目录未加载：仅列出数据集编号。",
    },
    "s_cutoff": {"en": "7. Cut-offs and assumptions", "zh": "7. 取舍准则与假设"},
    "cutoff_rule": {"en": "Cut-off criteria", "zh": "取舍准则"},
    "per_item_max": {"en": "per item at most", "zh": "单项不超过"},
    "min_coverage": {"en": "coverage at least", "zh": "覆盖率不低于"},
    "excluded": {"en": "Excluded items (estimated share)", "zh": "排除项（估计占比）"},
    "none": {"en": "none", "zh": "无"},
    "coverage": {"en": "Coverage", "zh": "覆盖率"},
    "inputs": {"en": "Rule inputs (values used)", "zh": "规则参数（采用值）"},
    "origin": {"en": "Origin", "zh": "来源"},
    "warnings": {"en": "Warnings", "zh": "提示"},
    "s_checklist": {"en": "8. ISO 14067 reporting checklist", "zh": "8. ISO 14067 报告核对清单"},
    "item": {"en": "The report states…", "zh": "报告应说明……"},
    "where": {"en": "Here", "zh": "本报告"},
    "footer": {
        "en": "Calculated by PCF Service with Brightway 2.5. Offsets and credits are not part of "
        "this footprint. CBAM embedded emissions are a different quantity and are not shown here.",
        "zh": "由 PCF Service 基于 Brightway 2.5 计算。碳抵消与信用不计入本碳足迹。"
        "CBAM 隐含排放是不同的量，不在本报告中列示。",
    },
    "raw_materials": {"en": "Raw materials", "zh": "原材料获取"},
    "manufacturing": {"en": "Manufacturing", "zh": "生产制造"},
    "distribution": {"en": "Distribution", "zh": "分销"},
    "use": {"en": "Use", "zh": "使用"},
    "end_of_life": {"en": "End of life", "zh": "废弃处置"},
    "gwp100_total": {"en": "GWP100, total", "zh": "GWP100 合计"},
    "gwp100_fossil": {"en": "Fossil", "zh": "化石源"},
    "gwp100_biogenic_ch4": {"en": "Biogenic methane", "zh": "生物源甲烷"},
    "gwp100_land_use": {
        "en": "Land use and land-use change (dLUC)",
        "zh": "土地利用及土地利用变化（dLUC）",
    },
    "biogenic_co2_emission": {
        "en": "Biogenic CO2 emissions (kg CO2, not in the total)",
        "zh": "生物源 CO2 排放（kg CO2，不计入合计）",
    },
    "biogenic_co2_removal": {
        "en": "Biogenic CO2 removals (kg CO2, not netted)",
        "zh": "生物源 CO2 清除（kg CO2，不抵扣）",
    },
    "aircraft": {"en": "Aircraft emissions", "zh": "航空运输排放"},
}

CHECKLIST: list[dict[str, str]] = [
    {
        "en": "Functional unit (or declared unit for a partial CFP) and reference flow",
        "zh": "功能单位（部分碳足迹为声明单位）及基准流",
    },
    {
        "en": "System boundary (cradle-to-grave or cradle-to-gate) and the life-cycle stages "
        "included",
        "zh": "系统边界（从摇篮到坟墓或从摇篮到大门）及包含的生命周期阶段",
    },
    {
        "en": "Cut-off criteria, the excluded items and their assessed effect",
        "zh": "取舍准则、排除项及其影响评估",
    },
    {
        "en": "Allocation procedures and the end-of-life / recycling method (cut-off, "
        "recycled-content or CFF)",
        "zh": "分配程序及废弃/回收方法（取舍法、再生含量法或 CFF）",
    },
    {
        "en": "Results by life-cycle stage and by gas, with the GWP100 set used",
        "zh": "按生命周期阶段和按温室气体的结果，及所用 GWP100 取值",
    },
    {
        "en": "Fossil, biogenic (emissions and removals), dLUC and aircraft emissions separately "
        "(iLUC separately if considered)",
        "zh": "化石、生物源（排放与清除）、直接土地利用变化及航空排放分别报告"
        "（如考虑间接土地利用变化亦单独报告）",
    },
    {
        "en": "The electricity modelling approach (supplier-specific or grid mix, which factor)",
        "zh": "电力建模方法（供应商特定或电网平均，采用何种因子）",
    },
    {"en": "No offsets or credits in the total", "zh": "合计中不含碳抵消或信用"},
    {
        "en": "Data quality (site-specific share, DQ indicators / DQR) and the uncertainty "
        "assessment",
        "zh": "数据质量（现场数据占比、数据质量指标/DQR）及不确定性评估",
    },
    {
        "en": "GB/T 24067 additions: geographic boundary of the data, critical review, CFP "
        "declaration content",
        "zh": "GB/T 24067 补充：数据地理边界、鉴定性评审、碳足迹声明内容",
    },
]


def t(key: str, lang: str) -> str:
    entry = STRINGS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["en"]
