//! `relaxvqa report` through the binary: one self-contained HTML page with
//! the score, the timeline and the images; rendered in headless Chromium
//! (Debian package `chromium`) when it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use relaxvqa_fixtures::video;

use crate::common::{relaxvqa, run, synthetic_head_file};

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn report_is_one_self_contained_page_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let html = dir.path().join("report.html");
    let o = run(relaxvqa()
        .arg("report")
        .arg(video("carphone_pristine"))
        .args(["--weights", "synthetic", "--segments", "1s", "--model"])
        .arg(&head)
        .arg("-o")
        .arg(&html));
    assert!(o.status.success());
    let text = std::fs::read_to_string(&html).unwrap();
    println!("report: {} bytes", text.len());
    assert!(text.starts_with("<!DOCTYPE html>"));
    assert!(text.contains("<svg") && text.contains("<polyline"));
    assert!(text.matches("data:image/png;base64,").count() >= 3);
    assert!(text.contains("merged fragment") && text.contains("frame fragment"));
    assert!(!text.contains("src=\"http") && !text.contains("href=\"http"), "nothing external");

    // A missing browser fails the test: the screenshot is part of the check.
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: scripts/setup.sh installs Debian's `chromium` for the report screenshot"
    );
    let shot = std::env::var_os("RELAXVQA_REPORT_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("report.png"));
    let profile = dir.path().join("chromium-profile");
    let o = run(Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .args(["--disable-sync", "--no-first-run", "--window-size=1200,2000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display())));
    assert!(o.status.success(), "chromium failed");
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes([png[16], png[17], png[18], png[19]]),
        u32::from_be_bytes([png[20], png[21], png[22], png[23]]),
    );
    println!("screenshot {} ({w} x {h}, {} bytes)", shot.display(), png.len());
    assert_eq!((w, h), (1200, 2000));
    // A blank page compresses to almost nothing; the report has images and text.
    assert!(png.len() > 50_000, "screenshot looks blank ({} bytes)", png.len());
}
