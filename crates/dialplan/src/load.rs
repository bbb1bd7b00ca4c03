//! Parsing and checking a plan directory. Collects as many findings as it can in one pass so ops fix a plan
//! in one round trip, and builds the routing table only when there is no error.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use calendar::{line_col, HolidayCalendar, WorkingHours};
use chrono::{Datelike, NaiveDate};
use toml::Spanned;

use crate::file::{After, CenterFile, Days, FileMode, NumbersFile};
use crate::{
    dtmf_index, wav, Diagnostic, Dialplan, Entry, Menu, MenuOption, Mode, NumberIndex, Severity,
    Transition,
};

/// Numbers that are emergency lines everywhere in China; they must never be merged into 12345.
const EMERGENCY_NUMBERS: [&str; 7] = ["110", "112", "119", "120", "122", "999", "12395"];

/// One source file, for turning byte spans into positions.
struct Src {
    name: String,
    text: String,
}

impl Src {
    fn diag(&self, span: Range<usize>, severity: Severity, message: String) -> Diagnostic {
        let (line, column) = line_col(&self.text, span.start);
        Diagnostic {
            file: self.name.clone(),
            line,
            column,
            severity,
            message,
        }
    }
}

struct Ctx {
    dir: PathBuf,
    diags: Vec<Diagnostic>,
    prompt_cache: HashMap<String, Result<Arc<str>, String>>,
    prompts: BTreeSet<PathBuf>,
    watch_dirs: BTreeSet<PathBuf>,
}

impl Ctx {
    fn err(&mut self, src: &Src, span: Range<usize>, msg: String) {
        self.diags.push(src.diag(span, Severity::Error, msg));
    }
    fn warn(&mut self, src: &Src, span: Range<usize>, msg: String) {
        self.diags.push(src.diag(span, Severity::Warning, msg));
    }
    fn whole_file(&mut self, file: &Path, msg: String) {
        self.diags.push(Diagnostic {
            file: file.display().to_string(),
            line: 0,
            column: 0,
            severity: Severity::Error,
            message: msg,
        });
    }

    /// Resolves a path written in a plan file (relative to the plan directory).
    fn resolve(&self, rel: &str) -> PathBuf {
        clean(&self.dir.join(rel))
    }

    /// Checks a prompt once per file; returns its resolved path for the routing table.
    fn prompt(&mut self, src: &Src, p: &Spanned<String>) -> Option<Arc<str>> {
        // Cached by the text as written: thousands of entries share a handful of prompts.
        let result = match self.prompt_cache.get(p.get_ref()) {
            Some(r) => r.clone(),
            None => {
                let path = self.resolve(p.get_ref());
                let r = wav::check_prompt(&path).map(|_| {
                    if let Some(parent) = path.parent() {
                        self.watch_dirs.insert(parent.to_path_buf());
                    }
                    let shown = Arc::<str>::from(path.display().to_string());
                    self.prompts.insert(path);
                    shown
                });
                self.prompt_cache.insert(p.get_ref().clone(), r.clone());
                r
            }
        };
        match result {
            Ok(shown) => Some(shown),
            Err(m) => {
                self.err(src, p.span(), m);
                None
            }
        }
    }
}

/// Lexical normalization ("a/b/../c" → "a/c") so resolved prompt paths read well in decisions and JSON.
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn read(ctx: &mut Ctx, path: &Path) -> Option<Src> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(Src {
            name: path.display().to_string(),
            text,
        }),
        Err(e) => {
            ctx.whole_file(path, format!("cannot read: {e}"));
            None
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(ctx: &mut Ctx, src: &Src) -> Option<T> {
    match toml::from_str::<T>(&src.text) {
        Ok(v) => Some(v),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            ctx.err(src, span, e.message().trim_end().to_string());
            None
        }
    }
}

fn valid_number(s: &str) -> bool {
    (3..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn valid_target(s: &str) -> bool {
    ["sip:", "sips:", "tel:", "seats:"]
        .iter()
        .any(|p| s.len() > p.len() && s.starts_with(p))
}

/// The user part of a target URI, to spot targets that lead back into 12345.
fn target_user(t: &str) -> &str {
    let rest = t.split_once(':').map_or(t, |(_, r)| r);
    rest.split(['@', ';', '?']).next().unwrap_or(rest)
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("bad date {s:?}: expected YYYY-MM-DD"))
}

fn transferable(mode: FileMode) -> bool {
    matches!(
        mode,
        FileMode::Parallel | FileMode::Subcenter | FileMode::Emergency | FileMode::Upstream
    )
}

fn mode_name(mode: FileMode) -> &'static str {
    match mode {
        FileMode::Whole => "whole",
        FileMode::Parallel => "parallel",
        FileMode::Subcenter => "subcenter",
        FileMode::Emergency => "emergency",
        FileMode::Upstream => "upstream",
    }
}

/// Where a number or code was first written: (source index, byte offset); `usize::MAX` = center.toml.
type Place = (usize, usize);

/// "file:line:col" of a [`Place`]. Only computed for a finding: doing it for every number is quadratic.
fn position(sources: &[Src], center: &Src, (src, offset): Place) -> String {
    match sources.get(src) {
        Some(f) => {
            let (l, col) = line_col(&f.text, offset);
            format!("{}:{l}:{col}", f.name)
        }
        None => {
            let (l, col) = line_col(&center.text, offset);
            format!("{}:{l}:{col} (the center number)", center.name)
        }
    }
}

/// A well-formed `transfer_code` on a transferable number, waiting for the checks that need every number.
struct PendingCode {
    code: String,
    src: usize,
    span: Range<usize>,
    /// The entry it names, when that entry passed its own checks.
    entry: Option<u32>,
}

/// A dialled string must mean one thing: a code is refused when it is a plan number, alias or the center
/// number, when the center's area code plus a plan number spells it (the number look-up strips the area
/// code), or when an earlier code is the same. Returns code → entry for the codes that passed.
fn check_codes(
    ctx: &mut Ctx,
    sources: &[Src],
    center: &Src,
    numbers: &HashMap<String, Place>,
    area_code: &str,
    codes: Vec<PendingCode>,
) -> NumberIndex {
    let mut first: HashMap<&str, Place> = HashMap::new();
    let mut out = NumberIndex::default();
    for p in &codes {
        let Some(src) = sources.get(p.src) else {
            continue;
        };
        let via_area = (!area_code.is_empty())
            .then(|| p.code.strip_prefix(area_code))
            .flatten()
            .filter(|rest| rest.len() >= 3)
            .and_then(|rest| numbers.get(rest).map(|&at| (rest, at)));
        let msg = if let Some(&at) = numbers.get(&p.code) {
            format!(
                "transfer code {} is also the number at {}: a dialled string must mean one thing",
                p.code,
                position(sources, center, at)
            )
        } else if let Some((rest, at)) = via_area {
            format!(
                "transfer code {} is area code {area_code} + number {rest} (at {}): a dialled string must mean one thing",
                p.code,
                position(sources, center, at)
            )
        } else if let Some(&at) = first.get(p.code.as_str()) {
            format!(
                "duplicate transfer code {}: already given at {}",
                p.code,
                position(sources, center, at)
            )
        } else {
            first.insert(&p.code, (p.src, p.span.start));
            if let Some(i) = p.entry {
                out.insert(p.code.clone().into_boxed_str(), i);
            }
            continue;
        };
        ctx.err(src, p.span.clone(), msg);
    }
    out
}

pub(crate) fn load(dir: &Path) -> (Option<Dialplan>, Vec<Diagnostic>) {
    let mut ctx = Ctx {
        dir: dir.to_path_buf(),
        diags: Vec::new(),
        prompt_cache: HashMap::new(),
        prompts: BTreeSet::new(),
        watch_dirs: BTreeSet::new(),
    };
    ctx.watch_dirs.insert(clean(dir));
    let plan = load_inner(&mut ctx, dir);
    let errors = ctx.diags.iter().any(|d| d.severity == Severity::Error);
    let plan = plan.filter(|_| !errors).map(|mut p| {
        p.prompts = ctx.prompts.iter().cloned().collect();
        p.watch_dirs = ctx.watch_dirs.iter().cloned().collect();
        p.warnings = ctx.diags.clone();
        p
    });
    (plan, ctx.diags)
}

fn load_inner(ctx: &mut Ctx, dir: &Path) -> Option<Dialplan> {
    let center_path = dir.join("center.toml");
    if !dir.is_dir() {
        ctx.whole_file(dir, "dial plan directory not found".into());
        return None;
    }
    let csrc = read(ctx, &center_path)?;
    let cf: CenterFile = parse(ctx, &csrc)?;
    let c = cf.center.get_ref();

    // --- the center ---
    let number = c.number.get_ref().trim().to_string();
    if !valid_number(&number) {
        ctx.err(
            &csrc,
            c.number.span(),
            format!("center number {number:?} must be 3–15 digits"),
        );
    }
    let area_code = match &c.area_code {
        Some(a) if !a.get_ref().bytes().all(|b| b.is_ascii_digit()) || a.get_ref().len() > 6 => {
            ctx.err(
                &csrc,
                a.span(),
                format!(
                    "area code {:?} must be up to 6 digits, e.g. \"0792\"",
                    a.get_ref()
                ),
            );
            String::new()
        }
        Some(a) => a.get_ref().clone(),
        None => String::new(),
    };
    let tz: Option<chrono_tz::Tz> = match c.timezone.get_ref().parse() {
        Ok(tz) => Some(tz),
        Err(_) => {
            let m = format!(
                "unknown time zone {:?}; use an IANA name like \"Asia/Shanghai\"",
                c.timezone.get_ref()
            );
            ctx.err(&csrc, c.timezone.span(), m);
            None
        }
    };
    let cal_path = ctx.resolve(c.calendar.get_ref());
    let calendar = match HolidayCalendar::load(&cal_path) {
        Ok(cal) => {
            if let Some(parent) = cal_path.parent() {
                ctx.watch_dirs.insert(parent.to_path_buf());
            }
            Some(Arc::new(cal))
        }
        Err(e) if e.line == 0 => {
            ctx.err(
                &csrc,
                c.calendar.span(),
                format!("calendar {}: {}", cal_path.display(), e.message),
            );
            None
        }
        Err(e) => {
            ctx.diags.push(Diagnostic {
                file: e.file,
                line: e.line,
                column: e.column,
                severity: Severity::Error,
                message: e.message,
            });
            None
        }
    };
    let default_hours = match WorkingHours::parse(c.working_hours.get_ref()) {
        Ok(h) => Some(h),
        Err(m) => {
            ctx.err(&csrc, c.working_hours.span(), m);
            None
        }
    };

    let mut queues: Vec<Arc<str>> = Vec::new();
    for q in &cf.queue {
        let name = q.name.get_ref().trim();
        if name.is_empty() {
            ctx.err(&csrc, q.name.span(), "queue name is empty".into());
        } else if queues.iter().any(|x| &**x == name) {
            ctx.err(
                &csrc,
                q.name.span(),
                format!("queue {name:?} is defined twice"),
            );
        } else {
            queues.push(Arc::from(name));
        }
    }
    let known_queue = |ctx: &mut Ctx, src: &Src, q: &Spanned<String>| -> Option<Arc<str>> {
        let found = queues.iter().find(|x| ***x == *q.get_ref().trim()).cloned();
        if found.is_none() {
            let names: Vec<&str> = queues.iter().map(|x| &**x).collect();
            ctx.err(
                src,
                q.span(),
                format!(
                    "unknown queue {:?}; queues are: {}",
                    q.get_ref(),
                    names.join(", ")
                ),
            );
        }
        found
    };
    let main_queue = known_queue(ctx, &csrc, &c.main_queue);
    let greeting = c.greeting.as_ref().map(|g| ctx.prompt(&csrc, g));
    let off_hours_prompt = c.off_hours_prompt.as_ref().map(|g| ctx.prompt(&csrc, g));

    // --- the voice menu (R-10) ---
    let mut menu = None;
    if let Some(m) = &cf.menu {
        let m = m.get_ref();
        let prompt = ctx.prompt(&csrc, &m.prompt);
        let mut options: [Option<MenuOption>; 12] = Default::default();
        if m.option.is_empty() {
            ctx.err(
                &csrc,
                cf.menu.as_ref().map_or(0..0, |s| s.span()),
                "menu has no option".into(),
            );
        }
        for o in &m.option {
            let key_str = o.get_ref().key.get_ref();
            let mut chars = key_str.chars();
            let idx = match (chars.next(), chars.next()) {
                (Some(k), None) => dtmf_index(k),
                _ => None,
            };
            let Some(idx) = idx else {
                ctx.err(
                    &csrc,
                    o.get_ref().key.span(),
                    format!("menu key {key_str:?} must be one of 0–9, * or #"),
                );
                continue;
            };
            if options[idx].is_some() {
                ctx.err(
                    &csrc,
                    o.get_ref().key.span(),
                    format!("menu key {key_str} is defined twice"),
                );
                continue;
            }
            let queue = o
                .get_ref()
                .queue
                .as_ref()
                .and_then(|q| known_queue(ctx, &csrc, q));
            let target = o.get_ref().target.as_ref().map(|t| {
                if !valid_target(t.get_ref()) {
                    ctx.err(
                        &csrc,
                        t.span(),
                        format!(
                            "target {:?} must start with sip:, sips:, tel: or seats:",
                            t.get_ref()
                        ),
                    );
                }
                Arc::<str>::from(t.get_ref().as_str())
            });
            let self_query = o.get_ref().self_query.as_ref();
            let is_self_query = self_query.is_some_and(|b| *b.get_ref());
            match (&o.get_ref().queue, &o.get_ref().target) {
                (Some(_), _) | (_, Some(_)) if is_self_query => ctx.err(
                    &csrc,
                    self_query.map_or(o.get_ref().key.span(), |b| b.span()),
                    format!("menu key {key_str} has self_query = true and also a queue or a target"),
                ),
                (None, None) if !is_self_query => ctx.err(
                    &csrc,
                    o.get_ref().key.span(),
                    format!(
                        "menu key {key_str} points nowhere: give it a queue, a target or self_query = true"
                    ),
                ),
                (Some(_), Some(t)) => ctx.err(
                    &csrc,
                    t.span(),
                    format!("menu key {key_str} has both a queue and a target"),
                ),
                _ => {}
            }
            options[idx] = Some(MenuOption {
                label: Arc::from(o.get_ref().label.as_str()),
                queue,
                target,
                self_query: is_self_query,
            });
        }
        let no_input_queue = match &m.no_input_queue {
            Some(q) => known_queue(ctx, &csrc, q),
            None => main_queue.clone(),
        };
        menu = prompt
            .zip(no_input_queue)
            .map(|(prompt, no_input_queue)| Menu {
                prompt,
                no_input_queue,
                options,
            });
    }

    // --- the numbers ---
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "toml")
                    && p.file_name().is_some_and(|n| n != "center.toml")
            })
            // A calendar kept inside the plan directory is not a numbers file.
            .filter(|p| clean(p) != cal_path)
            .collect(),
        Err(e) => {
            ctx.whole_file(dir, format!("cannot list directory: {e}"));
            Vec::new()
        }
    };
    files.sort();
    if files.is_empty() {
        ctx.whole_file(
            dir,
            "no numbers file (*.toml besides center.toml) in the plan directory".into(),
        );
    }

    // Where each number was first defined (source index, byte offset; usize::MAX = center.toml). Positions
    // are turned into line:column only for a duplicate: doing it for every number is quadratic.
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    seen.insert(number.clone(), (usize::MAX, c.number.span().start));
    let mut entries: Vec<Entry> = Vec::new();
    let mut index = NumberIndex::default();
    let mut codes: Vec<PendingCode> = Vec::new();
    let full_day = WorkingHours::parse("00:00-24:00").ok();
    let sources: Vec<Src> = files.iter().filter_map(|p| read(ctx, p)).collect();

    // Parsing dominates a big plan's load time; files are independent, so parse them in parallel.
    let parsed: Vec<Result<NumbersFile, toml::de::Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .iter()
            .map(|src| scope.spawn(move || toml::from_str::<NumbersFile>(&src.text)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    for (src_idx, (src, nf)) in sources.iter().zip(parsed).enumerate() {
        let nf = match nf {
            Ok(nf) => nf,
            Err(e) => {
                ctx.err(
                    src,
                    e.span().unwrap_or(0..0),
                    e.message().trim_end().to_string(),
                );
                continue;
            }
        };
        for n in &nf.number {
            let span = n.span();
            let n = n.get_ref();
            let mode = *n.mode.get_ref();
            let num = n.number.get_ref().trim().to_string();
            let mut ok = true;

            // Numbers and aliases: format and uniqueness.
            let mut keys: Vec<String> = Vec::new();
            for s in std::iter::once(&n.number).chain(n.aliases.iter()) {
                let v = s.get_ref().trim();
                if !valid_number(v) {
                    ctx.err(
                        src,
                        s.span(),
                        format!("number {v:?} must be 3–15 digits (no area code, no spaces)"),
                    );
                    ok = false;
                    continue;
                }
                if let Some(&at) = seen.get(v) {
                    let first = position(&sources, &csrc, at);
                    let m = format!("duplicate number {v}: already defined at {first}");
                    ctx.err(src, s.span(), m);
                    ok = false;
                    continue;
                }
                seen.insert(v.to_string(), (src_idx, s.span().start));
                keys.push(v.to_string());
            }
            if EMERGENCY_NUMBERS.contains(&num.as_str()) && mode != FileMode::Emergency {
                let m = format!(
                    "emergency number {num} must have mode = \"emergency\": emergency lines are never merged into 12345"
                );
                ctx.err(src, n.mode.span(), m);
                ok = false;
            }

            // Target.
            let target = match &n.target {
                Some(t) => {
                    let v = t.get_ref().trim();
                    if !valid_target(v) {
                        ctx.err(
                            src,
                            t.span(),
                            format!("target {v:?} must start with sip:, sips:, tel: or seats:"),
                        );
                        ok = false;
                    } else if mode == FileMode::Emergency && target_user(v) == number {
                        ctx.err(
                            src,
                            t.span(),
                            format!("emergency number {num} is routed into {number}; it must go to its own emergency line"),
                        );
                        ok = false;
                    } else if mode == FileMode::Emergency && v.starts_with("seats:") {
                        ctx.err(
                            src,
                            t.span(),
                            format!("emergency number {num} is routed to 12345 seats ({v}); it must go to its own emergency line"),
                        );
                        ok = false;
                    }
                    Some(Arc::<str>::from(v))
                }
                None => None,
            };
            // A transfer target is dialled through its target, so every one needs a target.
            let needs_target = transferable(mode)
                || n.after
                    .as_ref()
                    .is_some_and(|a| *a.get_ref() == After::Department);
            if needs_target && target.is_none() {
                ctx.err(
                    src,
                    n.mode.span(),
                    format!("number {num} needs a target (seats:GROUP or a SIP URI)"),
                );
                ok = false;
            }

            // Transfer code (checked against every number and the other codes once all are read).
            let mut code_slot = None;
            let mut transfer_code = None;
            if let Some(code) = &n.transfer_code {
                let v = code.get_ref().trim();
                if !(1..=8).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_digit()) {
                    ctx.err(
                        src,
                        code.span(),
                        format!(
                            "transfer code {v:?} must be 1–8 digits (the operator dials *2 CODE #)"
                        ),
                    );
                    ok = false;
                } else if !transferable(mode) {
                    ctx.err(
                        src,
                        code.span(),
                        format!(
                            "transfer code {v} points at no transfer target: {num} is a `{}` number; only parallel, subcenter, emergency and upstream numbers are transfer targets",
                            mode_name(mode)
                        ),
                    );
                    ok = false;
                } else {
                    code_slot = Some(codes.len());
                    transfer_code = Some(Arc::<str>::from(v));
                    codes.push(PendingCode {
                        code: v.to_string(),
                        src: src_idx,
                        span: code.span(),
                        entry: None,
                    });
                }
            }

            // Queue.
            let queue = match (&n.queue, mode) {
                (Some(q), FileMode::Emergency) => {
                    let m = format!("emergency number {num} is routed into the 12345 queue {:?}; emergency calls are never queued", q.get_ref());
                    ctx.err(src, q.span(), m);
                    ok = false;
                    None
                }
                (Some(q), _) => {
                    let r = known_queue(ctx, src, q);
                    ok &= r.is_some();
                    r
                }
                (None, _) => main_queue.clone(),
            };

            // Hours.
            let always = matches!(
                mode,
                FileMode::Subcenter | FileMode::Emergency | FileMode::Upstream
            );
            let hours = match &n.working_hours {
                Some(h) => match WorkingHours::parse(h.get_ref()) {
                    Ok(h) => Some(h),
                    Err(m) => {
                        ctx.err(src, h.span(), m);
                        ok = false;
                        None
                    }
                },
                None if always => WorkingHours::parse("00:00-24:00").ok(),
                None => default_hours.clone(),
            };
            let every_day = match n.days {
                Some(d) => d == Days::EveryDay,
                None => always,
            };

            // Transition and what follows (whole only).
            let mut transition = None;
            if let Some(t) = &n.transition {
                if mode != FileMode::Whole {
                    ctx.err(
                        src,
                        t.span(),
                        "only a `whole` number has a transition period".into(),
                    );
                    ok = false;
                }
                let t = t.get_ref();
                let from = parse_date(t.from.get_ref())
                    .map_err(|m| ctx.err(src, t.from.span(), m))
                    .ok();
                let until = parse_date(t.until.get_ref())
                    .map_err(|m| ctx.err(src, t.until.span(), m))
                    .ok();
                let prompt = ctx.prompt(src, &t.prompt);
                match (from, until) {
                    (Some(f), Some(u)) if u < f => {
                        ctx.err(
                            src,
                            t.until.span(),
                            format!("transition ends ({u}) before it starts ({f})"),
                        );
                        ok = false;
                    }
                    (Some(f), Some(u)) => {
                        if let Some(cal) = &calendar {
                            for (y, s) in [(f.year(), t.from.span()), (u.year(), t.until.span())] {
                                if !cal.covers_year(y) {
                                    let m = format!(
                                        "calendar {} has no {y}, which this transition period uses; add that year's State Council holiday notice",
                                        cal_path.display()
                                    );
                                    ctx.err(src, s, m);
                                    ok = false;
                                    break;
                                }
                            }
                        }
                        match prompt {
                            Some(prompt) => {
                                transition = Some(Transition {
                                    from: f,
                                    until: u,
                                    prompt,
                                    then: t.then,
                                })
                            }
                            None => ok = false,
                        }
                    }
                    _ => ok = false,
                }
            }
            let after = n.after.as_ref().map_or(After::Queue, |a| *a.get_ref());
            if let Some(a) = &n.after {
                if mode != FileMode::Whole {
                    ctx.err(src, a.span(), "only a `whole` number has `after`".into());
                    ok = false;
                }
            }
            let after_prompt = match &n.after_prompt {
                Some(p) => {
                    let r = ctx.prompt(src, p);
                    ok &= r.is_some();
                    r
                }
                None => transition.as_ref().map(|t| t.prompt.clone()),
            };
            if mode == FileMode::Whole
                && after == After::PromptThenHangup
                && after_prompt.is_none()
                && ok
            {
                let at = n.after.as_ref().map_or(span.clone(), |a| a.span());
                ctx.err(
                    src,
                    at,
                    "after = \"prompt_then_hangup\" needs after_prompt (or a transition prompt)"
                        .into(),
                );
                ok = false;
            }
            if mode == FileMode::Whole && num.len() == 5 && after != After::Queue {
                let at = n.after.as_ref().map_or(span.clone(), |a| a.span());
                ctx.warn(
                    src,
                    at,
                    format!("5-digit number {num} is cancelled after the transition; its calls normally go straight to 12345 (after = \"queue\")"),
                );
            }

            let (Some(queue), Some(hours), true) = (queue, hours, ok) else {
                continue;
            };
            let entry = Entry {
                number: Arc::from(num.as_str()),
                name: Arc::from(n.name.as_str()),
                department: n.department.as_deref().map(Arc::from),
                mode: match mode {
                    FileMode::Whole => Mode::Whole,
                    FileMode::Parallel => Mode::Parallel,
                    FileMode::Subcenter => Mode::Subcenter,
                    FileMode::Emergency => Mode::Emergency,
                    FileMode::Upstream => Mode::Upstream,
                },
                queue,
                target,
                every_day,
                transfer_answer_target_s: match mode {
                    FileMode::Parallel | FileMode::Subcenter => Some(
                        n.transfer_answer_target_s
                            .unwrap_or(c.transfer_answer_target_s),
                    ),
                    _ => n.transfer_answer_target_s,
                },
                transfer_code,
                always_open: matches!(mode, FileMode::Emergency | FileMode::Upstream)
                    || (every_day && Some(&hours) == full_day.as_ref()),
                hours,
                transition,
                after,
                after_prompt,
            };
            let i = entries.len() as u32;
            if let Some(p) = code_slot.and_then(|k| codes.get_mut(k)) {
                p.entry = Some(i);
            }
            entries.push(entry);
            for k in keys {
                index.insert(k.into_boxed_str(), i);
            }
        }
    }

    let transfer_codes = check_codes(ctx, &sources, &csrc, &seen, &area_code, codes);

    Some(Dialplan {
        dir: dir.to_path_buf(),
        name: Arc::from(c.name.as_str()),
        number: number.into_boxed_str(),
        area_code_intl: area_code.trim_start_matches('0').into(),
        area_code: area_code.into_boxed_str(),
        tz: tz?,
        calendar: calendar?,
        calendar_path: cal_path.clone(),
        main_queue: main_queue?,
        greeting: greeting.flatten(),
        off_hours_prompt: off_hours_prompt.flatten(),
        menu,
        queues,
        entries,
        index,
        transfer_codes,
        transfer_answer_target_s: c.transfer_answer_target_s,
        prompts: Vec::new(),
        watch_dirs: Vec::new(),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(
            clean(Path::new("dialplans/jiujiang/../prompts/a.wav")),
            PathBuf::from("dialplans/prompts/a.wav")
        );
        assert_eq!(clean(Path::new("../x/./y")), PathBuf::from("../x/y"));
        assert_eq!(clean(Path::new("/a/b/../../c")), PathBuf::from("/c"));
    }

    #[test]
    fn targets() {
        assert!(valid_target("sip:12333@10.1.2.3"));
        assert!(valid_target("seats:rsj"));
        assert!(!valid_target("sip:"));
        assert!(!valid_target("12333"));
        assert_eq!(target_user("sip:12345@gw;transport=udp"), "12345");
        assert_eq!(target_user("tel:110"), "110");
    }
}
