//! `relaxvqa models`: list and fetch the authors' published heads (the zoo,
//! [`relaxvqa_model::zoo`]), and convert a head with its imputer and scaler
//! into our single-file format, so that users never handle the authors'
//! pickles by hand.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::args::{ModelsArgs, ModelsCommand};
use anyhow::{bail, Context};
use relaxvqa::head::{parse_scale, scale_label};
use relaxvqa::lower::model::head::{save_head_file, HeadFile};
use relaxvqa::lower::model::zoo::{self, Zoo, ZooHead};
use serde_json::json;

/// Runs `relaxvqa models`.
pub fn run(a: ModelsArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        ModelsCommand::List { json } => list(json),
        ModelsCommand::Fetch { names, output } => fetch(&names, output),
        ModelsCommand::Convert { head, imputer, scaler, scale, source, output } => {
            let scale = parse_scale(&scale)?;
            let source = source.unwrap_or_else(|| {
                let p =
                    |o: &Option<PathBuf>| o.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into());
                format!("head {}, imputer {}, scaler {}", head.display(), p(&imputer), p(&scaler))
            });
            let hf = HeadFile::from_published(&head, imputer.as_deref(), scaler.as_deref(), scale, source)
                .with_context(|| format!("converting {}", head.display()))?;
            save_head_file(&output, &hf)?;
            println!(
                "{} -> {} ({} inputs, {}, imputer {}, scaler {})",
                head.display(),
                output.display(),
                hf.input_width,
                scale_label(scale),
                if hf.imputer.is_some() { "yes" } else { "no" },
                if hf.scaler.is_some() { "yes" } else { "no" },
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(as_json: bool) -> anyhow::Result<ExitCode> {
    let z = Zoo::from_env();
    if as_json {
        let heads: Vec<_> = zoo::HEADS
            .iter()
            .map(|h| {
                json!({
                    "name": h.name,
                    "default": h.name == zoo::DEFAULT_HEAD,
                    "trained_on": h.trained_on,
                    "output_scale": h.output_scale.as_str(),
                    "published_srcc": h.published_srcc,
                    "srcc_on": h.srcc_on,
                    "preprocessing": h.preprocessing.dataset,
                    "path": h.file.path,
                    "blob_id": h.file.blob_id,
                    "url": z.url(&h.file),
                    "cached": z.head_is_cached(h),
                    "warning": h.warning,
                })
            })
            .collect();
        crate::output::print_json(&json!({
            "schema": "relaxvqa.models/1",
            "repository": zoo::ZOO_REPOSITORY,
            "commit": zoo::ZOO_COMMIT,
            "cache": z.cache,
            "heads": heads,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<22} {:<44} {:<10} {:>6} {:<12} cached", "name", "trained on", "scale", "SRCC", "SRCC on");
    for h in &zoo::HEADS {
        println!(
            "{:<22} {:<44} {:<10} {:>6.3} {:<12} {}{}",
            if h.name == zoo::DEFAULT_HEAD { format!("{} (default)", h.name) } else { h.name.to_owned() },
            h.trained_on,
            scale_label(h.output_scale),
            h.published_srcc,
            h.srcc_on,
            if z.head_is_cached(h) { "yes" } else { "no" },
            if h.warning.is_some() { "  (warning: no matching scaler)" } else { "" },
        );
    }
    println!("cache: {}", z.cache.display());
    Ok(ExitCode::SUCCESS)
}

fn fetch(names: &[String], output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let heads: Vec<&ZooHead> = if names.iter().any(|n| n.eq_ignore_ascii_case("all")) {
        zoo::HEADS.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                zoo::find_head(n)
                    .with_context(|| format!("no published head named {n:?}; known: {}", zoo::head_names().join(", ")))
            })
            .collect::<anyhow::Result<_>>()?
    };
    if output.is_some() && heads.len() != 1 {
        bail!("--output takes one head; name exactly one");
    }
    let z = Zoo::from_env();
    let mut failed = 0;
    for h in &heads {
        if let Some(w) = h.warning {
            eprintln!("relaxvqa: warning: {}: {w}", h.name);
        }
        match z.fetch_head(h) {
            Ok(f) => println!("{}: {}", h.name, f.weights.display()),
            Err(e) => {
                eprintln!("relaxvqa: error: {}: {e}", h.name);
                failed += 1;
                continue;
            }
        }
        if let Some(out) = &output {
            let hf = z.head_file(h).with_context(|| h.name.to_owned())?;
            save_head_file(out, &hf)?;
            println!("{} -> {}", h.name, out.display());
        }
    }
    Ok(match failed {
        0 => ExitCode::SUCCESS,
        n if n == heads.len() => ExitCode::FAILURE,
        _ => ExitCode::from(crate::output::EXIT_PARTIAL),
    })
}
