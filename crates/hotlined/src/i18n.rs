//! The labels of the pages people read (the KPI report, the wallboard) in zh-CN, the operators' and supervisors'
//! language and the default, and in English (`?lang=en`). One table, so a label is never missing in one language;
//! the pages' scripts get the same table as JSON ([`labels_json`]).

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// `?lang=en` → English; anything else (or nothing) → Chinese.
    pub fn from_query(q: &HashMap<String, String>) -> Lang {
        match q.get("lang").map(|s| s.trim().to_ascii_lowercase()) {
            Some(l) if l == "en" || l.starts_with("en-") => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// The `lang` attribute of the page.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The `lang` query value.
    pub fn param(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The language the switch link offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

/// (key, zh-CN, English).
const LABELS: &[(&str, &str, &str)] = &[
    // The switch link shows the other language in its own words.
    ("switch", "English", "中文"),
    ("kpi.title", "12345 绩效报表", "12345 KPI report"),
    ("kpi.range", "统计区间：", "Date range:"),
    ("kpi.from", "起始日期", "From"),
    ("kpi.to", "截止日期", "To"),
    ("kpi.apply", "查询", "Show"),
    ("kpi.csv", "导出 CSV", "Export CSV"),
    ("kpi.summary", "总体指标", "Summary"),
    ("kpi.metric", "指标", "Figure"),
    ("kpi.value", "数值", "Value"),
    ("kpi.basis", "计算依据", "Counted from"),
    ("kpi.answer_rate", "接通率（24小时）", "Answer rate (24 h)"),
    ("kpi.on_time_rate", "按时办结率", "On-time rate"),
    ("kpi.reopen_rate", "重办率", "Re-open rate"),
    (
        "kpi.satisfaction_after_call",
        "满意率（通话后评价）",
        "Satisfaction (after the call)",
    ),
    (
        "kpi.satisfaction_call_back",
        "满意率（回访评价）",
        "Satisfaction (call-back)",
    ),
    ("kpi.callback_coverage", "回访覆盖率", "Call-back coverage"),
    ("kpi.tickets", "受理工单", "Tickets accepted"),
    ("kpi.overdue_open", "超期未办结", "Open past their deadline"),
    ("kpi.not_accepted", "不予受理", "Not accepted"),
    (
        "kpi.not_accepted_note",
        "不予受理的诉求单独统计，不计入其他各项指标。",
        "Requests not accepted are counted here apart and left out of every other figure.",
    ),
    ("kpi.reason", "原因", "Reason"),
    ("kpi.count", "件数", "Count"),
    ("kpi.departments", "各部门指标", "By department"),
    ("kpi.department", "部门", "Department"),
    (
        "kpi.transfers",
        "一键转接服务水平（按时接听 / 转接次数）",
        "Transfer service level (answered within target / attempts)",
    ),
    ("kpi.attempts", "转接次数", "Attempts"),
    ("kpi.within_target", "按时接听", "Answered within target"),
    ("kpi.service_level", "服务水平", "Service level"),
    ("kpi.satisfaction", "评价构成", "Survey answers"),
    ("kpi.rates", "主要指标", "Key rates"),
    ("kpi.loading", "正在加载……", "Loading…"),
    (
        "kpi.error",
        "数据加载失败：",
        "Could not load the figures: ",
    ),
    ("kpi.none", "区间内无数据", "Nothing in this range"),
    ("kpi.basis.answer", "接通 / 呼入", "answered / offered"),
    ("kpi.basis.on_time", "按时办结 / 已办结", "on time / closed"),
    (
        "kpi.basis.reopen",
        "重办 / 曾办结",
        "re-opened / ever closed",
    ),
    (
        "kpi.basis.satisfaction",
        "满意+基本满意 / 已评价",
        "satisfied + basic / rated",
    ),
    ("kpi.basis.coverage", "已回访 / 应回访", "reached / due"),
    ("kpi.after_call", "通话后评价", "After the call"),
    ("kpi.call_back", "回访评价", "Call-back"),
    ("sat.satisfied", "满意", "Satisfied"),
    ("sat.basic", "基本满意", "Basically satisfied"),
    ("sat.unsatisfied", "不满意", "Unsatisfied"),
    ("sat.not_evaluated", "未评价", "Not evaluated"),
    // Not accepted, by `NotAcceptedReason::as_str`.
    ("reason.litigation", "诉讼", "Litigation"),
    ("reason.arbitration", "仲裁", "Arbitration"),
    (
        "reason.discipline_inspection",
        "纪检监察",
        "Discipline inspection",
    ),
    (
        "reason.administrative_review",
        "行政复议",
        "Administrative review",
    ),
    (
        "reason.information_disclosure",
        "政府信息公开",
        "Information disclosure",
    ),
    ("reason.petition", "信访", "Petition"),
    ("reason.state_secret", "国家秘密", "State secret"),
    ("reason.business_secret", "商业秘密", "Business secret"),
    ("reason.personal_privacy", "个人隐私", "Personal privacy"),
    ("reason.public_order", "公序良俗", "Public order"),
    // The wallboard.
    ("wb.title", "12345 实时监控", "12345 wallboard"),
    ("wb.active_calls", "当前通话", "Active calls"),
    ("wb.answer_rate", "24小时接通率", "24-hour answer rate"),
    ("wb.service_level", "服务水平", "Service level"),
    ("wb.offered", "呼入", "Offered"),
    ("wb.answered", "接通", "Answered"),
    ("wb.abandoned", "放弃", "Abandoned"),
    ("wb.callbacks", "转回拨", "Call-backs"),
    (
        "wb.data_note",
        "统计口径：最近24小时的通话记录。数据接口：",
        "Figures: the last 24 hours, from the call records. Data: ",
    ),
    ("wb.queue", "队列", "Queue"),
    ("wb.waiting", "排队", "Waiting"),
    ("wb.longest_wait", "最长等待（秒）", "Longest wait (s)"),
    ("wb.ready", "空闲", "Ready"),
    ("wb.on_calls", "通话中", "On calls"),
    ("wb.not_ready", "示忙", "Not ready"),
    ("wb.asa", "平均应答（秒）", "ASA (s)"),
    ("wb.aht", "平均处理（秒）", "AHT (s)"),
    ("wb.seat", "座席", "Seat"),
    ("wb.operator", "话务员", "Operator"),
    ("wb.state", "状态", "State"),
    ("wb.reason", "原因", "Reason"),
    ("wb.in_state", "持续（秒）", "For (s)"),
    ("wb.queues", "所属队列", "Queues"),
    ("wb.tags", "技能标签", "Tags"),
    ("wb.not_registered", "（未注册）", " (not registered)"),
    (
        "wb.transfers",
        "一键转接（自启动以来；目标：95%按时接听）",
        "One-key transfers (since start; target: 95% answered in time)",
    ),
    ("wb.department", "部门", "Department"),
    ("wb.attempts", "转接次数", "Attempts"),
    ("wb.in_target", "按时接听", "Answered in target"),
    ("wb.fell_back", "转回话务员", "Fell back"),
    (
        "wb.chart_waiting",
        "排队人数（最近24小时）",
        "Callers waiting (last 24 hours)",
    ),
    (
        "wb.chart_service_level",
        "服务水平（最近24小时）",
        "Service level (last 24 hours)",
    ),
    ("wb.updated", "更新于", "Updated"),
    (
        "wb.offline",
        "连接中断，正在重试…",
        "Connection lost, retrying…",
    ),
    ("wb.target", "目标", "Target"),
    ("wb.now", "当前", "Now"),
    (
        "wb.quality",
        "通话质量（MOS 估计值，E 模型）：24小时平均",
        "Call quality (MOS, E-model estimate): 24-hour average",
    ),
    ("wb.quality_calls", "通", "calls"),
    ("wb.quality_poor", "通低于 3.6", "below 3.6"),
    ("wb.quality_latest", "最近：", "latest:"),
    ("state.logged_out", "未登录", "Logged out"),
    ("state.ready", "就绪", "Ready"),
    ("state.ringing", "振铃", "Ringing"),
    ("state.talking", "通话", "Talking"),
    ("state.wrap_up", "话后整理", "Wrap-up"),
    ("state.resting", "小休", "Resting"),
    ("state.not_ready", "示忙", "Not ready"),
];

/// The label of `key` in `lang`; the key itself when it is missing (a unit test keeps that from happening for
/// the keys the pages use).
pub fn t(lang: Lang, key: &str) -> &str {
    LABELS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, zh, en)| match lang {
            Lang::Zh => *zh,
            Lang::En => *en,
        })
        .unwrap_or(key)
}

/// Every label in `lang` as a JSON object, for a page's script.
pub fn labels_json(lang: Lang) -> String {
    let map: serde_json::Map<String, serde_json::Value> = LABELS
        .iter()
        .map(|(k, zh, en)| {
            let v = match lang {
                Lang::Zh => zh,
                Lang::En => en,
            };
            (k.to_string(), serde_json::Value::String(v.to_string()))
        })
        .collect();
    // Inside a <script> element: "</" must not appear.
    serde_json::Value::Object(map)
        .to_string()
        .replace("</", "<\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_once_and_in_both_languages() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in LABELS {
            assert!(seen.insert(k), "{k} twice");
            assert!(!zh.trim().is_empty() && !en.trim().is_empty(), "{k}");
            // The English column is English and the Chinese one Chinese (the switch link is the exception:
            // each language offers the other).
            let cjk = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
            if *k != "switch" {
                assert!(!cjk(en), "{k}: Chinese in the English label {en:?}");
                assert!(cjk(zh) || zh.starts_with("12345"), "{k}: {zh:?}");
            }
        }
    }

    #[test]
    fn every_not_accepted_reason_and_seat_state_has_a_label() {
        for r in ticket::NotAcceptedReason::ALL {
            let key = format!("reason.{}", r.as_str());
            assert_ne!(t(Lang::Zh, &key), key);
            assert_eq!(t(Lang::Zh, &key), r.label_zh(), "{key}");
        }
        for s in [
            "logged_out",
            "ready",
            "ringing",
            "talking",
            "wrap_up",
            "resting",
            "not_ready",
        ] {
            let key = format!("state.{s}");
            assert_ne!(t(Lang::En, &key), key);
        }
    }

    #[test]
    fn language_from_the_query() {
        let q = |v: &str| HashMap::from([("lang".to_string(), v.to_string())]);
        assert_eq!(Lang::from_query(&HashMap::new()), Lang::Zh);
        assert_eq!(Lang::from_query(&q("en")), Lang::En);
        assert_eq!(Lang::from_query(&q("EN-us")), Lang::En);
        assert_eq!(Lang::from_query(&q("zh")), Lang::Zh);
        assert_eq!(Lang::from_query(&q("fr")), Lang::Zh);
        assert!(!labels_json(Lang::Zh).contains("</"));
    }
}
