//! Checks which FFmpeg the build links: relaxvqa's own (ffmpeg/build.sh,
//! the default), or the system's with `--features system-ffmpeg`. Both
//! are found through pkg-config by ffmpeg-sys-next; this only makes sure it
//! found the one the features ask for, and says how to get it otherwise.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if std::env::var_os("CARGO_FEATURE_FFMPEG").is_none() {
        return;
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let ours = manifest.join("../../target/ffmpeg");
    // A rebuilt FFmpeg (a new recipe) relinks everything that uses it.
    println!("cargo:rerun-if-changed={}", ours.join(".complete").display());
    let system = std::env::var_os("CARGO_FEATURE_SYSTEM_FFMPEG").is_some();
    let found = pkg_config::get_variable("libavcodec", "prefix").ok().map(PathBuf::from);
    let is_ours = |p: &Path| match (p.canonicalize(), ours.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    match (system, found) {
        (false, Some(p)) if is_ours(&p) => {}
        (false, found) => fail(&format!(
            "relaxvqa links its own FFmpeg by default, but pkg-config found {}: run `bash ffmpeg/build.sh` \
             (scripts/setup.sh does), or build with `--features system-ffmpeg` to link the system's",
            found.map_or("none".to_owned(), |p| format!("the one in {}", p.display()))
        )),
        (true, Some(p)) if is_ours(&p) => fail(
            "--features system-ffmpeg, but pkg-config found relaxvqa's own FFmpeg (target/ffmpeg): \
             set PKG_CONFIG_PATH to the system's .pc files (or to nothing)",
        ),
        (true, _) => {}
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    println!("cargo:warning={msg}");
    std::process::exit(1);
}
