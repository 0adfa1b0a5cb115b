//! The library's public surface is the one `docs/api.md` lists: every
//! public module, type, function and constant a user can name (methods are
//! the types' own). Read from the source (the crate's `pub` items at module
//! level and its `pub use` lists), so the test needs no nightly toolchain;
//! when it fails it prints the list to paste into `docs/api.md` after
//! checking that the change is meant.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Top-level statements of a file (comments dropped, `pub use` lists joined).
fn statements(text: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut feature = None;
    let mut pending = String::new();
    for line in text.lines() {
        if !pending.is_empty() {
            pending.push(' ');
            pending.push_str(line.trim());
            if line.contains(';') {
                out.push((feature.take(), std::mem::take(&mut pending)));
            }
            continue;
        }
        if line.starts_with(char::is_whitespace) || line.starts_with("//") {
            continue;
        }
        if let Some(f) = line.strip_prefix("#[cfg(feature = \"").and_then(|r| r.split('"').next()) {
            feature = Some(f.to_owned());
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        if line.starts_with("pub use") && !line.contains(';') {
            pending = line.trim().to_owned();
            continue;
        }
        if line.starts_with("pub ") {
            out.push((feature.take(), line.trim().to_owned()));
        } else {
            feature = None;
        }
    }
    out
}

/// The names a `pub use a::b::{C, D as E, self}` brings in.
fn used_names(stmt: &str) -> Vec<String> {
    let body = stmt.trim_start_matches("pub use").trim().trim_end_matches(';');
    let list = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => body[a + 1..b].split(',').map(str::to_owned).collect(),
        _ => vec![body.rsplit("::").next().unwrap_or(body).to_owned()],
    };
    list.into_iter()
        .map(|n| n.trim().rsplit(" as ").next().unwrap_or("").rsplit("::").next().unwrap_or("").trim().to_owned())
        .filter(|n| !n.is_empty() && n != "self")
        .collect()
}

/// Every public item of module `path` (file `file`), as `path::Name (kind)`.
fn items(path: &str, file: &Path, out: &mut BTreeSet<String>) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    for (feature, s) in statements(&text) {
        let gate = feature.map(|f| format!(", feature {f}")).unwrap_or_default();
        if s.starts_with("pub use") {
            for n in used_names(&s) {
                out.insert(format!("{path}::{n} (re-export{gate})"));
            }
            continue;
        }
        let rest = s.trim_start_matches("pub ");
        let kind = rest.split_whitespace().next().unwrap_or("");
        let name: String = rest[kind.len()..].trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !["fn", "struct", "enum", "const", "type", "trait", "static", "mod"].contains(&kind) || name.is_empty() {
            continue;
        }
        out.insert(format!("{path}::{name} ({kind}{gate})"));
        if kind == "mod" && !s.ends_with('{') {
            let dir = file.parent().unwrap_or(Path::new("."));
            let base = if file.ends_with("lib.rs") || file.ends_with("mod.rs") {
                dir.to_owned()
            } else {
                dir.join(file.file_stem().unwrap_or_default())
            };
            let child = [base.join(format!("{name}.rs")), base.join(&name).join("mod.rs")]
                .into_iter()
                .find(|p| p.is_file())
                .unwrap_or_else(|| panic!("module {path}::{name}: no file"));
            items(&format!("{path}::{name}"), &child, out);
        }
    }
}

fn surface() -> Vec<String> {
    let mut out = BTreeSet::new();
    items("relaxvqa", &src().join("lib.rs"), &mut out);
    out.into_iter().collect()
}

#[test]
fn the_public_api_is_the_documented_one() {
    let now = surface();
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/api.md");
    let listed: Vec<String> = doc
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap_or("")
        .lines()
        .map(str::to_owned)
        .collect();
    let added: Vec<&String> = now.iter().filter(|i| !listed.contains(i)).collect();
    let removed: Vec<&String> = listed.iter().filter(|i| !now.contains(i)).collect();
    println!("{} public items", now.len());
    assert!(
        added.is_empty() && removed.is_empty(),
        "the public API changed: added {added:#?}, removed {removed:#?}; if that is meant, the list for \
         docs/api.md is:\n{}",
        now.join("\n")
    );
    // No re-export of a whole internal crate, and no test helper outside
    // the `testing` feature.
    for file in ["lib.rs", "extract.rs", "head.rs", "input.rs", "model.rs"] {
        let text = std::fs::read_to_string(src().join(file)).unwrap();
        let whole = text.lines().find(|l| {
            let l = l.trim();
            l.starts_with("pub use relaxvqa_") && (l.contains(" as ") || !l.contains("::"))
        });
        assert!(whole.is_none(), "{file} re-exports an internal crate: {whole:?}");
    }
    assert!(now.contains(&"relaxvqa::testing (mod, feature testing)".to_owned()), "testing is not behind its feature");
}
