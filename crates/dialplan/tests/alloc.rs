//! `route` runs for every INVITE: it must not allocate (texts are shared `Arc<str>`, the reason is data).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{TimeZone, Utc};
use dialplan::{CallQuery, Dialplan};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn route_does_not_allocate() {
    let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans");
    let j = Dialplan::load_dir(&plans.join("jiujiang")).unwrap();
    let k = Dialplan::load_dir(&plans.join("jingjiang")).unwrap();
    let at = Utc.with_ymd_and_hms(2021, 12, 1, 2, 0, 0).unwrap();
    let queries = [
        ("12345", None, None, ""),
        ("12345", Some("12396"), None, ""),
        ("07928259110", None, None, ""),
        ("12345", Some("+867928121135"), None, ""),
        ("12366", None, None, ""),
        ("110", None, None, ""),
        ("12345", None, Some("110"), ""),
        ("12345", None, None, "9"),
        ("12345", None, None, "7"),
        ("99999", None, None, ""),
    ];
    let mut decisions = Vec::with_capacity(queries.len() * 2);
    let before = ALLOCS.load(Ordering::Relaxed);
    for plan in [&j, &k] {
        for &(called, diversion, caller, digits) in &queries {
            decisions.push(plan.route(&CallQuery {
                called,
                diversion,
                caller,
                at,
                digits,
            }));
        }
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(allocs, 0, "route allocated {allocs} times");
    assert_eq!(decisions.len(), 20);
    assert!(decisions
        .iter()
        .any(|d| d.action == dialplan::Action::Forward));
}
