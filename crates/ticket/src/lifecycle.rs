//! The later life of a ticket: the reasons a request is not accepted, what a return, an
//! extension request and a re-handling leave on the ticket, and the caller's evaluation. Pure types; the
//! transitions themselves are in [`crate::model::apply`] with the others.

use serde::{Deserialize, Serialize};

use crate::model::{Satisfaction, Status};

/// Why a request is outside the hotline's remit (不予受理, R-26). The list is the one in the provincial plan
/// (seed 003 §二(二)2): matters for litigation, arbitration, discipline inspection, administrative
/// reconsideration or information disclosure, matters already in the petition channel, state or business
/// secrets, personal privacy, and requests against public order and good morals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotAcceptedReason {
    /// 诉讼
    Litigation,
    /// 仲裁
    Arbitration,
    /// 纪检监察
    DisciplineInspection,
    /// 行政复议
    AdministrativeReview,
    /// 政府信息公开
    InformationDisclosure,
    /// 已进入信访渠道
    Petition,
    /// 国家秘密
    StateSecret,
    /// 商业秘密
    BusinessSecret,
    /// 个人隐私
    PersonalPrivacy,
    /// 违反社会公序良俗
    PublicOrder,
}

impl NotAcceptedReason {
    pub const ALL: [NotAcceptedReason; 10] = [
        NotAcceptedReason::Litigation,
        NotAcceptedReason::Arbitration,
        NotAcceptedReason::DisciplineInspection,
        NotAcceptedReason::AdministrativeReview,
        NotAcceptedReason::InformationDisclosure,
        NotAcceptedReason::Petition,
        NotAcceptedReason::StateSecret,
        NotAcceptedReason::BusinessSecret,
        NotAcceptedReason::PersonalPrivacy,
        NotAcceptedReason::PublicOrder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotAcceptedReason::Litigation => "litigation",
            NotAcceptedReason::Arbitration => "arbitration",
            NotAcceptedReason::DisciplineInspection => "discipline_inspection",
            NotAcceptedReason::AdministrativeReview => "administrative_review",
            NotAcceptedReason::InformationDisclosure => "information_disclosure",
            NotAcceptedReason::Petition => "petition",
            NotAcceptedReason::StateSecret => "state_secret",
            NotAcceptedReason::BusinessSecret => "business_secret",
            NotAcceptedReason::PersonalPrivacy => "personal_privacy",
            NotAcceptedReason::PublicOrder => "public_order",
        }
    }

    /// The Chinese label of the provincial plan, for reports.
    pub fn label_zh(self) -> &'static str {
        match self {
            NotAcceptedReason::Litigation => "诉讼",
            NotAcceptedReason::Arbitration => "仲裁",
            NotAcceptedReason::DisciplineInspection => "纪检监察",
            NotAcceptedReason::AdministrativeReview => "行政复议",
            NotAcceptedReason::InformationDisclosure => "政府信息公开",
            NotAcceptedReason::Petition => "信访",
            NotAcceptedReason::StateSecret => "国家秘密",
            NotAcceptedReason::BusinessSecret => "商业秘密",
            NotAcceptedReason::PersonalPrivacy => "个人隐私",
            NotAcceptedReason::PublicOrder => "公序良俗",
        }
    }

    pub fn parse(s: &str) -> Option<NotAcceptedReason> {
        NotAcceptedReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What returns, extensions and re-handling leave on a ticket. Part of [`crate::model::TicketState`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lifecycle {
    /// While `returned`: the status the department returned it from, where a refused return puts it back.
    pub returned_from: Option<Status>,
    /// Working days granted by approved extensions (延期); the closing deadline moves by them.
    pub extension_days: u32,
    /// An extension request waiting for the center: the working days asked for.
    pub extension_pending: Option<u32>,
    /// How many times it was sent back for re-handling (重办) after closing.
    pub reopened: u32,
    /// The last re-handling: the closing deadline counts from here instead of the acceptance.
    pub reopened_at_ms: Option<i64>,
    /// Set when closed as not accepted.
    pub not_accepted: Option<NotAcceptedReason>,
}

/// The caller's answer to the satisfaction survey (评价): a key after the call or on a call-back, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evaluation {
    Satisfied,
    /// 基本满意
    Basic,
    Unsatisfied,
    /// No key pressed (hung up, time-out, or an invalid key).
    NotEvaluated,
}

impl Evaluation {
    pub const ALL: [Evaluation; 4] = [
        Evaluation::Satisfied,
        Evaluation::Basic,
        Evaluation::Unsatisfied,
        Evaluation::NotEvaluated,
    ];

    /// The survey prompt's keys: «满意请按1，基本满意请按2，不满意请按3». Anything else is no answer.
    pub fn from_key(key: Option<char>) -> Evaluation {
        match key {
            Some('1') => Evaluation::Satisfied,
            Some('2') => Evaluation::Basic,
            Some('3') => Evaluation::Unsatisfied,
            _ => Evaluation::NotEvaluated,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Evaluation::Satisfied => "satisfied",
            Evaluation::Basic => "basic",
            Evaluation::Unsatisfied => "unsatisfied",
            Evaluation::NotEvaluated => "not_evaluated",
        }
    }

    pub fn parse(s: &str) -> Option<Evaluation> {
        Evaluation::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The rating, when the caller gave one.
    pub fn satisfaction(self) -> Option<Satisfaction> {
        match self {
            Evaluation::Satisfied => Some(Satisfaction::Satisfied),
            Evaluation::Basic => Some(Satisfaction::Basic),
            Evaluation::Unsatisfied => Some(Satisfaction::Unsatisfied),
            Evaluation::NotEvaluated => None,
        }
    }
}

/// Which survey an evaluation came from: the one after the operator's call (the hotline's service), or the
/// one on a call-back (the department's handling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationSource {
    AfterCall,
    CallBack,
}

impl EvaluationSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationSource::AfterCall => "after_call",
            EvaluationSource::CallBack => "call_back",
        }
    }

    pub fn parse(s: &str) -> Option<EvaluationSource> {
        [EvaluationSource::AfterCall, EvaluationSource::CallBack]
            .into_iter()
            .find(|e| e.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_keys_map_to_evaluations_and_anything_else_is_not_evaluated() {
        assert_eq!(Evaluation::from_key(Some('1')), Evaluation::Satisfied);
        assert_eq!(Evaluation::from_key(Some('2')), Evaluation::Basic);
        assert_eq!(Evaluation::from_key(Some('3')), Evaluation::Unsatisfied);
        for k in [None, Some('0'), Some('4'), Some('*'), Some('#')] {
            assert_eq!(Evaluation::from_key(k), Evaluation::NotEvaluated, "{k:?}");
        }
    }

    #[test]
    fn names_parse_back() {
        for r in NotAcceptedReason::ALL {
            assert_eq!(NotAcceptedReason::parse(r.as_str()), Some(r));
        }
        for e in Evaluation::ALL {
            assert_eq!(Evaluation::parse(e.as_str()), Some(e));
        }
        assert_eq!(NotAcceptedReason::parse("weather"), None);
    }
}
