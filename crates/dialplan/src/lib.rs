//! Dial plans ops staff edit: which call goes where, and when.
//!
//! A plan is a directory (`dialplans/<center>/`): `center.toml` (the center, its calendar, queues, optional
//! voice menu) plus any number of other `*.toml` files holding `[[number]]` entries, one per legacy hotline
//! number with its merge mode. [`Dialplan::load_dir`] parses and checks everything (syntax *and* meaning)
//! and either returns a ready routing table or every problem with `file:line:column`.
//! [`Dialplan::route`] is a pure function from a call (numbers, time, digits) to a [`Decision`].
//! [`LiveDialplan`] swaps plans atomically for hot reload. See `docs/dialplan.md`.

mod file;
mod live;
mod load;
mod wav;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use calendar::{HolidayCalendar, WorkingHours};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Serialize, Serializer};

pub use file::{After, Then};
pub use live::{watch, DialplanWatcher, LiveDialplan};

/// How bad a finding is: errors refuse the plan, warnings are printed but the plan loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding of `check`, pointing at the spot in a file (1-based line and column; 0 when the problem is
/// the file as a whole, e.g. it is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            write!(f, "{}: {sev}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {sev}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// Everything `check` found. The plan is usable when there is no error.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub diagnostics: Vec<Diagnostic>,
    /// Numbers (including aliases) in the plan, when it loaded.
    pub numbers: Option<usize>,
    /// One-key transfer targets (parallel, subcenter, emergency, upstream numbers), when it loaded.
    pub transfer_targets: Option<usize>,
    /// `transfer_code`s among them, when it loaded.
    pub transfer_codes: Option<usize>,
}

impl CheckReport {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }
}

/// Which rule a call fell under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A call to the center's own number (12345).
    Main,
    /// 整体并入 / 直接整合: the legacy number only leads into 12345.
    Whole,
    /// 双号并行 / 并联整合: the department keeps its number and seats in working hours.
    Parallel,
    /// 设分中心: vertically managed hotline, own seats 7×24, reachable by transfer.
    Subcenter,
    /// 应急联动: 110/119/120/122…, never merged, never queued at 12345.
    Emergency,
    /// The provincial 12345 center.
    Upstream,
    /// Not in the plan: refused (R-09, no new numbers).
    Unknown,
}

impl Mode {
    /// The JSON name ("main", "whole", …), e.g. for metric labels without allocating.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Main => "main",
            Mode::Whole => "whole",
            Mode::Parallel => "parallel",
            Mode::Subcenter => "subcenter",
            Mode::Emergency => "emergency",
            Mode::Upstream => "upstream",
            Mode::Unknown => "unknown",
        }
    }
}

/// What the call leg should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Put the caller in `queue`.
    Queue,
    /// Play the menu `prompt` and collect a digit; route again with the digits. On no input, queue in
    /// `queue` (the menu's `no_input_queue`, default the main queue).
    Menu,
    /// Play `prompt` to the end, then queue in `queue`.
    PromptThenQueue,
    /// Play `prompt` to the end, then hang up.
    PromptThenHangup,
    /// Ring the department's seats or SIP `target`.
    Department,
    /// Send the call out to `target` (another hotline, an emergency trunk, the province).
    Forward,
    /// Refuse the call (SIP 404/403).
    Reject,
    /// The progress self-query by phone: the caller keys a ticket number and `#`, the daemon reads
    /// back its state and due date (a menu option with `self_query = true`).
    SelfQuery,
}

impl Action {
    /// The JSON name ("queue", "prompt_then_queue", …).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Queue => "queue",
            Action::Menu => "menu",
            Action::PromptThenQueue => "prompt_then_queue",
            Action::PromptThenHangup => "prompt_then_hangup",
            Action::Department => "department",
            Action::Forward => "forward",
            Action::Reject => "reject",
            Action::SelfQuery => "self_query",
        }
    }
}

/// Why, in data; rendered as one human sentence. Kept as data so `route` formats nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    MainQueue,
    MainMenu,
    MenuChoice {
        key: char,
        label: Arc<str>,
    },
    MenuUnknownKey {
        key: char,
    },
    /// A call handed to 12345 by an emergency line or the province (Diversion or caller is that number).
    Handover {
        from: Arc<str>,
        mode: Mode,
    },
    Unknown,
    BeforeTransition {
        from: NaiveDate,
    },
    InTransition {
        until: NaiveDate,
        then: file::Then,
    },
    AfterTransition {
        until: NaiveDate,
        after: file::After,
    },
    Merged {
        after: file::After,
    },
    DepartmentOpen,
    DepartmentClosed,
    Emergency,
    Upstream,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use file::{After, Then};
        let after_text = |a: &After| match a {
            After::Queue => "calls go straight to 12345",
            After::PromptThenHangup => "callers are told to dial 12345 and the call ends",
            After::Department => "calls go back to the department",
            After::Reject => "calls are refused",
        };
        match self {
            Reason::MainQueue => f.write_str("call to the hotline itself: queued for an operator"),
            Reason::MainMenu => {
                f.write_str("call to the hotline itself: voice menu, waiting for a key")
            }
            Reason::MenuChoice { key, label } => write!(f, "menu key {key} ({label})"),
            Reason::MenuUnknownKey { key } => {
                write!(f, "menu key {key} is not in the menu: menu played again")
            }
            Reason::Handover { from, mode } => write!(
                f,
                "non-emergency call handed over by {from} ({}): queued at 12345",
                if *mode == Mode::Emergency {
                    "emergency linkage"
                } else {
                    "provincial center"
                }
            ),
            Reason::Unknown => {
                f.write_str("number is not in the dial plan; no new numbers are routed (R-09)")
            }
            Reason::BeforeTransition { from } => {
                write!(
                    f,
                    "merge into 12345 takes effect on {from}; answered by 12345 meanwhile"
                )
            }
            Reason::InTransition { until, then } => write!(
                f,
                "transition period until {until}: merge announcement, then {}",
                match then {
                    Then::Queue => "12345 answers",
                    Then::Hangup => "the call ends",
                }
            ),
            Reason::AfterTransition { until, after } => {
                write!(
                    f,
                    "transition period ended on {until}: {}",
                    after_text(after)
                )
            }
            Reason::Merged { after } => {
                write!(f, "number merged into 12345: {}", after_text(after))
            }
            Reason::DepartmentOpen => {
                f.write_str("inside the department's working hours: ring the department")
            }
            Reason::DepartmentClosed => f.write_str(
                "outside the department's working hours: 12345 answers and opens a ticket",
            ),
            Reason::Emergency => {
                f.write_str("emergency number: never merged, forwarded to the emergency line")
            }
            Reason::Upstream => f.write_str("provincial center: forwarded upstream"),
        }
    }
}

fn display<S: Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// What a call would do. Serializes to the JSON of `hotlined route` (see docs/dialplan.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub mode: Mode,
    pub action: Action,
    /// Prompt file to play (path as resolved from the plan directory), if any.
    pub prompt: Option<Arc<str>>,
    pub queue: Option<Arc<str>>,
    /// Department seats (`seats:GROUP`) or a SIP/tel URI.
    pub target: Option<Arc<str>>,
    /// Whether the matched entry is inside its working hours at that time.
    pub working_hours: bool,
    #[serde(serialize_with = "display")]
    pub reason: Reason,
    pub department: Option<Arc<str>>,
    /// The hotline's name (e.g. "企业投诉"), for the operator's screen.
    pub hotline: Option<Arc<str>>,
    /// Answer target for one-key transfers to this department, in seconds.
    pub transfer_answer_target_s: Option<u32>,
    /// The plan number that decided (the original number when it came from Diversion).
    pub matched: Option<Arc<str>>,
    /// True when the deciding number came from Diversion / History-Info.
    pub via_diversion: bool,
}

/// Where an operator's one-key transfer (`*2` NUMBER-or-CODE `#`, R-05..R-08) goes: a `parallel`,
/// `subcenter`, `emergency` or `upstream` number of the plan. See [`Dialplan::transfer_target`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferTarget {
    /// The plan number (e.g. "12348"), also when it was dialled by an alias, a code or with the area code.
    pub number: Arc<str>,
    /// Its `transfer_code`, if the plan gives it one.
    pub code: Option<Arc<str>>,
    /// The hotline's name.
    pub name: Option<Arc<str>>,
    pub department: Option<Arc<str>>,
    /// `Parallel`, `Subcenter`, `Emergency` or `Upstream`.
    pub mode: Mode,
    /// `seats:GROUP` or a SIP/tel URI, exactly as [`Decision::target`] has it.
    pub target: Arc<str>,
    /// The number's `transfer_answer_target_s`, else the center's (default 15).
    pub answer_target_s: u32,
    /// Open at every instant, so no working-hours check is needed: emergency and upstream always, and a
    /// parallel/subcenter number whose hours are `00:00-24:00` on every day (a subcenter's default, R-06).
    /// When false, [`Dialplan::route`] on the number tells whether the department is open right now.
    pub always_open: bool,
}

/// One incoming call, as the daemon sees it (user parts of the URIs).
#[derive(Debug, Clone, Copy)]
pub struct CallQuery<'a> {
    pub called: &'a str,
    /// Original called number from Diversion / History-Info, if any.
    pub diversion: Option<&'a str>,
    pub caller: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// DTMF digits collected so far (menu).
    pub digits: &'a str,
}

#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub prompt: Arc<str>,
    pub then: file::Then,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub number: Arc<str>,
    pub name: Arc<str>,
    pub department: Option<Arc<str>>,
    pub mode: Mode,
    pub queue: Arc<str>,
    pub target: Option<Arc<str>>,
    pub hours: WorkingHours,
    pub every_day: bool,
    pub transfer_answer_target_s: Option<u32>,
    /// The plan's `transfer_code`, if any (transferable modes only).
    pub transfer_code: Option<Arc<str>>,
    /// Open at every instant: emergency/upstream (forwarded without an hours check), or a parallel/subcenter
    /// number open every day 00:00–24:00 (a subcenter's default, R-06).
    pub always_open: bool,
    pub transition: Option<Transition>,
    pub after: file::After,
    pub after_prompt: Option<Arc<str>>,
}

#[derive(Debug, Clone)]
pub(crate) struct MenuOption {
    pub label: Arc<str>,
    pub queue: Option<Arc<str>>,
    pub target: Option<Arc<str>>,
    /// The progress self-query instead of a queue or a target.
    pub self_query: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Menu {
    pub prompt: Arc<str>,
    pub no_input_queue: Arc<str>,
    /// Indexed by [`dtmf_index`].
    pub options: [Option<MenuOption>; 12],
}

/// 0–9 → 0–9, `*` → 10, `#` → 11.
pub(crate) fn dtmf_index(c: char) -> Option<usize> {
    match c {
        '0'..='9' => Some(c as usize - '0' as usize),
        '*' => Some(10),
        '#' => Some(11),
        _ => None,
    }
}

/// FNV-1a with a final mix: several times cheaper than SipHash on short digit strings. HashDoS resistance
/// is not needed: only the plan's own (trusted) numbers are stored; network input is only looked up.
#[derive(Clone, Copy)]
pub(crate) struct NumberHasher(u64);

impl Default for NumberHasher {
    fn default() -> Self {
        NumberHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for NumberHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        let x = self.0 ^ (self.0 >> 31);
        x.wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (x >> 29)
    }
}

pub(crate) type NumberIndex = HashMap<Box<str>, u32, std::hash::BuildHasherDefault<NumberHasher>>;

/// A checked, ready routing table. Immutable: reload builds a new one.
#[derive(Debug, Clone)]
pub struct Dialplan {
    pub(crate) dir: PathBuf,
    pub(crate) name: Arc<str>,
    pub(crate) number: Box<str>,
    pub(crate) area_code: Box<str>,
    /// The area code as written after +86 (without its leading 0).
    pub(crate) area_code_intl: Box<str>,
    pub(crate) tz: chrono_tz::Tz,
    pub(crate) calendar: Arc<HolidayCalendar>,
    pub(crate) calendar_path: PathBuf,
    pub(crate) main_queue: Arc<str>,
    pub(crate) greeting: Option<Arc<str>>,
    pub(crate) off_hours_prompt: Option<Arc<str>>,
    pub(crate) menu: Option<Menu>,
    pub(crate) queues: Vec<Arc<str>>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) index: NumberIndex,
    /// `transfer_code` → index into `entries` (transferable entries only).
    pub(crate) transfer_codes: NumberIndex,
    /// The center's `transfer_answer_target_s` (default 15).
    pub(crate) transfer_answer_target_s: u32,
    pub(crate) prompts: Vec<PathBuf>,
    pub(crate) watch_dirs: Vec<PathBuf>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Dialplan {
    /// Parses and checks a plan directory. Any error refuses the whole plan.
    pub fn load_dir(dir: &Path) -> Result<Dialplan, Vec<Diagnostic>> {
        let (plan, diags) = load::load(dir);
        match plan {
            Some(p) if diags.iter().all(|d| d.severity != Severity::Error) => Ok(p),
            _ => Err(diags
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .collect()),
        }
    }

    /// Center name, e.g. "九江市12345政务服务便民热线".
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The directory the plan was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.tz
    }
    pub fn calendar(&self) -> &Arc<HolidayCalendar> {
        &self.calendar
    }
    /// Numbers routed (including aliases).
    pub fn len(&self) -> usize {
        self.index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    /// Queue names the ACD must provide.
    pub fn queues(&self) -> impl Iterator<Item = &str> {
        self.queues.iter().map(|q| &**q)
    }
    /// Every prompt file the plan can ask for (for preloading into frames).
    pub fn prompts(&self) -> &[PathBuf] {
        &self.prompts
    }
    /// Warnings found while loading (errors never get this far).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }
    /// Count of entries per mode name ("whole", "parallel", …).
    pub fn count_by_mode(&self, mode: Mode) -> usize {
        self.entries.iter().filter(|e| e.mode == mode).count()
    }

    /// Strips a URI scheme/host, `+86`/`0086` and the center's area code so "07928259110",
    /// "+867928259110" and "8259110" find the same entry. Pure slicing: no allocation on the call path.
    fn normalize<'a>(&self, raw: &'a str) -> &'a str {
        let mut s = raw;
        // Fast path: a plain local number (the usual case) needs no URI handling.
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            s = s.trim();
            // Tolerate a whole URI ("sip:12345@host;user=phone", "tel:+8612345") as well as a user part.
            for scheme in ["sip:", "sips:", "tel:"] {
                if let Some(rest) = s.strip_prefix(scheme) {
                    s = rest;
                    break;
                }
            }
            if let Some(end) = s.bytes().position(|b| b == b'@' || b == b';') {
                s = &s[..end];
            }
        }
        let (s, ac) = match s.strip_prefix("+86").or_else(|| s.strip_prefix("0086")) {
            Some(rest) => (rest, &*self.area_code_intl),
            None => (s, &*self.area_code),
        };
        if !ac.is_empty() {
            if let Some(rest) = s.strip_prefix(ac) {
                if rest.len() >= 3 {
                    return rest;
                }
            }
        }
        s
    }

    fn lookup(&self, raw: &str) -> Option<&Entry> {
        let i = *self.index.get(self.normalize(raw))?;
        self.entries.get(i as usize)
    }

    /// The one-key transfer target an operator dialled: a plan number or alias (area code, `+86` and URI
    /// forms are accepted as for [`Dialplan::route`]) or a `transfer_code`. `None` for the center's own
    /// number, `whole` (merged/cancelled) numbers and anything not in the plan. O(1): two hash look-ups.
    pub fn transfer_target(&self, dialled: &str) -> Option<TransferTarget> {
        let code = dialled.trim();
        let e = match self.transfer_codes.get(code) {
            Some(&i) => self.entries.get(i as usize)?,
            None => self.lookup(dialled)?,
        };
        self.transfer_of(e)
    }

    /// Every transfer target, in plan order (files sorted by name), e.g. for the operator's directory.
    pub fn transfer_targets(&self) -> impl Iterator<Item = TransferTarget> + '_ {
        self.entries.iter().filter_map(|e| self.transfer_of(e))
    }

    /// Number of `transfer_code`s in the plan.
    pub fn transfer_code_count(&self) -> usize {
        self.transfer_codes.len()
    }

    /// The same fields [`Dialplan::route`] puts into a [`Decision`] for this entry.
    fn transfer_of(&self, e: &Entry) -> Option<TransferTarget> {
        if !matches!(
            e.mode,
            Mode::Parallel | Mode::Subcenter | Mode::Emergency | Mode::Upstream
        ) {
            return None;
        }
        Some(TransferTarget {
            number: e.number.clone(),
            code: e.transfer_code.clone(),
            name: Some(e.name.clone()),
            department: e.department.clone(),
            mode: e.mode,
            target: e.target.clone()?,
            answer_target_s: e
                .transfer_answer_target_s
                .unwrap_or(self.transfer_answer_target_s),
            always_open: e.always_open,
        })
    }

    fn is_main(&self, raw: &str) -> bool {
        self.normalize(raw) == &*self.number
    }

    /// Decides what a call does. Pure (time is `q.at`), no I/O, no formatting.
    ///
    /// Order: a call addressed to an emergency line goes there. Then the original number (Diversion)
    /// decides when it is in the plan, because carrier call forwarding delivers a merged number's call
    /// addressed to 12345; an emergency or provincial number there (or as caller) means that line handed the
    /// call to 12345. Then the center's own number, then the called number. Anything else is refused.
    pub fn route(&self, q: &CallQuery<'_>) -> Decision {
        let local = q.at.with_timezone(&self.tz).naive_local();
        let called_main = self.is_main(q.called);
        let called = if called_main {
            None
        } else {
            self.lookup(q.called)
        };
        // A call addressed to an emergency line goes there whatever Diversion says: never queued at 12345.
        if let Some(e) = called.filter(|e| e.mode == Mode::Emergency) {
            return self.entry(e, local, false);
        }
        if let Some(e) = q.diversion.and_then(|d| self.lookup(d)) {
            if called_main && matches!(e.mode, Mode::Emergency | Mode::Upstream) {
                return self.handover(e, true);
            }
            return self.entry(e, local, true);
        }
        if called_main {
            if let Some(e) = q.caller.and_then(|c| self.lookup(c)) {
                if matches!(e.mode, Mode::Emergency | Mode::Upstream) {
                    return self.handover(e, false);
                }
            }
            return self.main(q.digits);
        }
        match called {
            Some(e) => self.entry(e, local, false),
            None => {
                let mut d = self.base(Mode::Unknown, Action::Reject, Reason::Unknown);
                d.working_hours = false;
                d
            }
        }
    }

    fn base(&self, mode: Mode, action: Action, reason: Reason) -> Decision {
        Decision {
            mode,
            action,
            prompt: None,
            queue: None,
            target: None,
            working_hours: true,
            reason,
            department: None,
            hotline: None,
            transfer_answer_target_s: None,
            matched: None,
            via_diversion: false,
        }
    }

    fn handover(&self, from: &Entry, via_diversion: bool) -> Decision {
        let mut d = self.base(
            Mode::Main,
            Action::Queue,
            Reason::Handover {
                from: from.number.clone(),
                mode: from.mode,
            },
        );
        d.queue = Some(self.main_queue.clone());
        d.matched = Some(from.number.clone());
        d.via_diversion = via_diversion;
        d
    }

    fn main(&self, digits: &str) -> Decision {
        let Some(menu) = &self.menu else {
            let (action, prompt) = match &self.greeting {
                Some(g) => (Action::PromptThenQueue, Some(g.clone())),
                None => (Action::Queue, None),
            };
            let mut d = self.base(Mode::Main, action, Reason::MainQueue);
            d.prompt = prompt;
            d.queue = Some(self.main_queue.clone());
            return d;
        };
        let Some(key) = digits.chars().next() else {
            let mut d = self.base(Mode::Main, Action::Menu, Reason::MainMenu);
            d.prompt = Some(menu.prompt.clone());
            d.queue = Some(menu.no_input_queue.clone());
            return d;
        };
        match dtmf_index(key).and_then(|i| menu.options[i].as_ref()) {
            Some(opt) => {
                let reason = Reason::MenuChoice {
                    key,
                    label: opt.label.clone(),
                };
                let mut d = match &opt.target {
                    _ if opt.self_query => self.base(Mode::Main, Action::SelfQuery, reason),
                    Some(t) => {
                        let mut d = self.base(Mode::Main, Action::Forward, reason);
                        d.target = Some(t.clone());
                        d
                    }
                    None => self.base(Mode::Main, Action::Queue, reason),
                };
                d.queue = opt.queue.clone();
                d
            }
            None => {
                let mut d = self.base(Mode::Main, Action::Menu, Reason::MenuUnknownKey { key });
                d.prompt = Some(menu.prompt.clone());
                d.queue = Some(menu.no_input_queue.clone());
                d
            }
        }
    }

    fn is_open(&self, e: &Entry, local: NaiveDateTime) -> bool {
        (e.every_day || self.calendar.is_working_day(local.date()))
            && e.hours.contains(local.time())
    }

    fn entry(&self, e: &Entry, local: NaiveDateTime, via_diversion: bool) -> Decision {
        use file::{After, Then};
        let open = self.is_open(e, local);
        let mut d = self.base(e.mode, Action::Reject, Reason::Unknown);
        d.working_hours = open;
        d.department = e.department.clone();
        d.hotline = Some(e.name.clone());
        d.transfer_answer_target_s = e.transfer_answer_target_s;
        d.matched = Some(e.number.clone());
        d.via_diversion = via_diversion;
        match e.mode {
            Mode::Whole => {
                let today = local.date();
                let after = |d: &mut Decision| match e.after {
                    After::Queue => {
                        d.action = Action::Queue;
                        d.queue = Some(e.queue.clone());
                    }
                    After::PromptThenHangup => {
                        d.action = Action::PromptThenHangup;
                        d.prompt = e.after_prompt.clone();
                    }
                    After::Department => {
                        d.action = Action::Department;
                        d.target = e.target.clone();
                    }
                    After::Reject => d.action = Action::Reject,
                };
                match &e.transition {
                    Some(t) if today < t.from => {
                        d.action = Action::Queue;
                        d.queue = Some(e.queue.clone());
                        d.reason = Reason::BeforeTransition { from: t.from };
                    }
                    Some(t) if today <= t.until => {
                        d.prompt = Some(t.prompt.clone());
                        d.reason = Reason::InTransition {
                            until: t.until,
                            then: t.then,
                        };
                        match t.then {
                            Then::Queue => {
                                d.action = Action::PromptThenQueue;
                                d.queue = Some(e.queue.clone());
                            }
                            Then::Hangup => d.action = Action::PromptThenHangup,
                        }
                    }
                    Some(t) => {
                        after(&mut d);
                        d.reason = Reason::AfterTransition {
                            until: t.until,
                            after: e.after,
                        };
                    }
                    None => {
                        after(&mut d);
                        d.reason = Reason::Merged { after: e.after };
                    }
                }
            }
            Mode::Parallel | Mode::Subcenter => {
                if open {
                    d.action = Action::Department;
                    d.target = e.target.clone();
                    d.reason = Reason::DepartmentOpen;
                } else {
                    d.queue = Some(e.queue.clone());
                    d.reason = Reason::DepartmentClosed;
                    match &self.off_hours_prompt {
                        Some(p) => {
                            d.action = Action::PromptThenQueue;
                            d.prompt = Some(p.clone());
                        }
                        None => d.action = Action::Queue,
                    }
                }
            }
            Mode::Emergency | Mode::Upstream => {
                d.action = Action::Forward;
                d.target = e.target.clone();
                d.reason = if e.mode == Mode::Emergency {
                    Reason::Emergency
                } else {
                    Reason::Upstream
                };
            }
            Mode::Main | Mode::Unknown => {}
        }
        d
    }
}

/// The plan checker's verdict on one prompt file's bytes (8 kHz mono G.711 or 16-bit PCM WAV with
/// audio): the same check `check_dir` makes on every prompt a plan names. The error is a sentence.
pub fn check_prompt_wav(bytes: &[u8]) -> Result<(), String> {
    wav::check_prompt_bytes(bytes, Path::new("prompt")).map(|_| ())
}

/// `hotlined check --dialplan DIR`: every finding of the plan directory.
pub fn check_dir(dir: &Path) -> CheckReport {
    check_dir_on(dir, None)
}

/// [`check_dir`], plus a warning when the calendar lacks `today`'s year (every Monday–Friday would count as
/// a working day, holidays would be missed).
pub fn check_dir_on(dir: &Path, today: Option<NaiveDate>) -> CheckReport {
    let (plan, mut diagnostics) = load::load(dir);
    if let (Some(p), Some(today)) = (&plan, today) {
        let year = chrono::Datelike::year(&today);
        if !p.calendar.covers_year(year) {
            diagnostics.push(Diagnostic {
                file: p.calendar_path.display().to_string(),
                line: 0,
                column: 0,
                severity: Severity::Warning,
                message: format!(
                    "calendar has no {year}, the current year: holidays and adjusted working days are ignored; \
                     add the State Council notice for {year}"
                ),
            });
        }
    }
    let ok = diagnostics.iter().all(|d| d.severity != Severity::Error);
    let plan = plan.filter(|_| ok);
    CheckReport {
        numbers: plan.as_ref().map(|p| p.len()),
        transfer_targets: plan.as_ref().map(|p| p.transfer_targets().count()),
        transfer_codes: plan.as_ref().map(|p| p.transfer_code_count()),
        diagnostics,
    }
}

/// The text and exit status of `hotlined check`: 1 on any error, 0 when clean (warnings allowed).
pub fn check_command(dir: &Path) -> (String, i32) {
    // CLI glue: the only place besides `route_command` that reads the clock.
    let report = check_dir_on(
        dir,
        Some(
            Utc::now()
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .date_naive(),
        ),
    );
    let mut out = String::new();
    for d in &report.diagnostics {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    let (e, w) = (report.errors().count(), report.warnings().count());
    match report.numbers {
        Some(n) if report.is_ok() => {
            out.push_str(&format!(
                "{}: ok, {n} numbers, {} transfer targets ({} with a code), {w} warning(s)\n",
                dir.display(),
                report.transfer_targets.unwrap_or(0),
                report.transfer_codes.unwrap_or(0),
            ));
            (out, 0)
        }
        _ => {
            out.push_str(&format!(
                "{}: {e} error(s), {w} warning(s); plan refused\n",
                dir.display()
            ));
            (out, 1)
        }
    }
}

/// `hotlined route`: the decision as pretty JSON. `at` is RFC 3339; without it the current time is used
/// (this is CLI glue, the only place here that reads the clock).
pub fn route_command(
    dir: &Path,
    to: &str,
    diversion: Option<&str>,
    from: Option<&str>,
    at: Option<&str>,
    digits: &str,
) -> Result<String, String> {
    let at = match at {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| {
                format!("--at {s:?} is not an RFC 3339 time (e.g. 2021-10-09T10:00:00+08:00): {e}")
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let plan = Dialplan::load_dir(dir).map_err(|diags| {
        let mut s: String = diags.iter().map(|d| format!("{d}\n")).collect();
        s.push_str(&format!("{}: plan refused", dir.display()));
        s
    })?;
    let decision = plan.route(&CallQuery {
        called: to,
        diversion,
        caller: from,
        at,
        digits,
    });
    serde_json::to_string_pretty(&decision).map_err(|e| format!("cannot encode decision: {e}"))
}

/// `transfer DIR DIALLED` (CLI glue, e.g. for the example binary): the [`TransferTarget`] as pretty JSON, or
/// an error naming why there is none.
pub fn transfer_command(dir: &Path, dialled: &str) -> Result<String, String> {
    let plan = Dialplan::load_dir(dir).map_err(|diags| {
        let mut s: String = diags.iter().map(|d| format!("{d}\n")).collect();
        s.push_str(&format!("{}: plan refused", dir.display()));
        s
    })?;
    let t = plan.transfer_target(dialled).ok_or_else(|| {
        format!(
            "{dialled:?} is no transfer target of {}: not a parallel, subcenter, emergency or upstream number or code",
            dir.display()
        )
    })?;
    serde_json::to_string_pretty(&t).map_err(|e| format!("cannot encode transfer target: {e}"))
}
