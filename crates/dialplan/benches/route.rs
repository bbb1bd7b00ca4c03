//! Route decisions per second and load+check time on a generated plan with 10,000 numbers.
//!   cargo bench -p dialplan --bench route
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use dialplan::{CallQuery, Dialplan};
use divan::counter::ItemsCount;
use divan::{black_box, Bencher};

const NUMBERS: usize = 10_000;

fn main() {
    divan::main();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    plan: Dialplan,
    numbers: Vec<String>,
}

/// 10,000 numbers over four files: 4,000 whole (with transitions), 5,000 parallel (half with their own
/// hours), 900 subcenter, 100 emergency; the shared calendar and prompts of the repository.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans").canonicalize().unwrap();
        let p = |n: &str| repo.join("prompts").join(n).display().to_string();
        let center = format!(
            "[center]\nname = \"bench\"\nnumber = \"12345\"\narea_code = \"0792\"\ntimezone = \"Asia/Shanghai\"\n\
             calendar = {:?}\nworking_hours = \"09:00-17:00\"\nmain_queue = \"general\"\ngreeting = {:?}\n\
             off_hours_prompt = {:?}\n[[queue]]\nname = \"general\"\n[[queue]]\nname = \"expert\"\n",
            repo.join("calendars/china.toml").display().to_string(),
            p("greeting.wav"),
            p("off_hours.wav"),
        );
        std::fs::write(dir.join("center.toml"), center).unwrap();
        let mut numbers = Vec::with_capacity(NUMBERS);
        let mut files: [String; 4] = Default::default();
        for i in 0..NUMBERS {
            let num = format!("8{:07}", i * 7 + 1);
            let (f, body) = match i % 100 {
                0..=39 => (
                    0,
                    format!(
                        "mode = \"whole\"\nafter = \"{}\"\ntransition = {{ from = \"2021-11-{:02}\", until = \"2021-12-{:02}\", prompt = {:?}, then = \"queue\" }}\n",
                        if i % 2 == 0 { "queue" } else { "prompt_then_hangup" },
                        1 + i % 28,
                        1 + i % 28,
                        p("merged_transition.wav")
                    ),
                ),
                40..=89 => (
                    1,
                    format!(
                        "mode = \"parallel\"\ntarget = \"seats:g{}\"\n{}",
                        i % 50,
                        if i % 2 == 0 { "working_hours = \"08:30-12:00,14:00-17:30\"\nqueue = \"expert\"\n" } else { "" }
                    ),
                ),
                90..=98 => (2, format!("mode = \"subcenter\"\ntarget = \"sip:{num}@sub.invalid\"\n")),
                _ => (3, format!("mode = \"emergency\"\ntarget = \"sip:{num}@emergency.invalid\"\n")),
            };
            writeln!(files[f], "[[number]]\nnumber = \"{num}\"\nname = \"hotline {i}\"\ndepartment = \"dept {}\"\n{body}", i % 300).unwrap();
            numbers.push(num);
        }
        for (i, text) in files.iter().enumerate() {
            std::fs::write(dir.join(format!("numbers{i}.toml")), text).unwrap();
        }
        let plan = Dialplan::load_dir(&dir).unwrap();
        assert_eq!(plan.len(), NUMBERS);
        Fixture { _tmp: tmp, dir, plan, numbers }
    })
}

fn times() -> [DateTime<Utc>; 4] {
    let bj = |y, m, d, h| {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    [
        bj(2021, 9, 30, 10),
        bj(2021, 10, 1, 10),
        bj(2021, 12, 5, 20),
        bj(2026, 11, 23, 9),
    ]
}

/// One decision: a mix of direct calls, carrier-forwarded calls (Diversion, with area code), calls to 12345
/// and unknown numbers, at working and non-working times.
#[divan::bench(sample_count = 200, sample_size = 2000)]
fn route_decision(b: Bencher) {
    let f = fixture();
    let at = times();
    let diverted: Vec<String> = f.numbers.iter().map(|n| format!("0792{n}")).collect();
    let mut i = 0usize;
    b.counter(ItemsCount::new(1usize)).bench_local(|| {
        i = i.wrapping_add(7919);
        let k = i % f.numbers.len();
        let q = match i % 4 {
            0 => CallQuery {
                called: &f.numbers[k],
                diversion: None,
                caller: None,
                at: at[i % 3],
                digits: "",
            },
            1 => CallQuery {
                called: "12345",
                diversion: Some(&diverted[k]),
                caller: None,
                at: at[(i / 4) % 4],
                digits: "",
            },
            2 => CallQuery {
                called: "12345",
                diversion: None,
                caller: Some("13800000000"),
                at: at[3],
                digits: "",
            },
            _ => CallQuery {
                called: "99999999",
                diversion: None,
                caller: None,
                at: at[0],
                digits: "",
            },
        };
        black_box(f.plan.route(black_box(&q)))
    });
}

/// Parse + check (all 10,000 entries, calendar, every prompt) + build the table: the cost of a reload.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn load_and_check_10k(b: Bencher) {
    let f = fixture();
    b.bench(|| {
        let plan = Dialplan::load_dir(&f.dir).unwrap();
        assert_eq!(plan.len(), NUMBERS);
        plan
    });
}
