//! The pages in a real headless browser (Debian `chromium`): a peer like SIPp. CI installs it (`.ci/run`); a
//! machine without it fails the page tests with the package to install, unless `HOTLINE_SKIP_BROWSER=1`.

use super::Daemon;
use std::process::Command;

fn find() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
}

/// The browser, or `None` when it is missing and the run said `HOTLINE_SKIP_BROWSER=1`.
pub fn chromium() -> Option<&'static str> {
    match find() {
        Some(b) => Some(b),
        None if std::env::var("HOTLINE_SKIP_BROWSER").as_deref() == Ok("1") => {
            eprintln!("skipped: no chromium and HOTLINE_SKIP_BROWSER=1");
            None
        }
        None => panic!(
            "the page tests need a headless browser: apt-get install -y chromium fonts-noto-cjk"
        ),
    }
}

/// The DOM after the page's scripts ran for `budget_ms` of virtual time (the fetches and drawing finish;
/// timers fire as if that much time had passed). Credentials ride in the URL: Chromium answers the daemon's
/// Basic challenge with them.
pub fn rendered(browser: &str, d: &Daemon, path: &str, budget_ms: u32) -> String {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://admin:change-me-example-token@{}{path}", d.admin);
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("running chromium");
    assert!(out.status.success(), "chromium failed on {path}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `attr="…"` of the first element that has it.
pub fn attr(dom: &str, name: &str) -> Option<String> {
    let start = dom.find(&format!("{name}=\""))? + name.len() + 2;
    let len = dom[start..].find('"')?;
    Some(unescape(&dom[start..start + len]))
}

/// `attr` of the element whose opening tag contains `marker` (e.g. `id="chart-waiting"`).
pub fn attr_of(dom: &str, marker: &str, name: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let open = dom[..at].rfind('<')?;
    let close = at + dom[at..].find('>')?;
    attr(&dom[open..close], name)
}
