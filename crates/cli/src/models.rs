//! `relaxvqa models`: list and fetch the authors' published heads, and
//! convert a head with its imputer and scaler into one head file
//! ([`relaxvqa::published`]).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::args::{ModelsArgs, ModelsCommand};
use anyhow::bail;
use relaxvqa::head::{parse_scale, scale_label};
use relaxvqa::published;
use serde_json::json;

/// Runs `relaxvqa models`.
pub fn run(a: ModelsArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        ModelsCommand::List { json } => list(json),
        ModelsCommand::Fetch { names, output } => fetch(&names, output),
        ModelsCommand::Convert { head, imputer, scaler, scale, source, output } => {
            let scale = parse_scale(&scale)?;
            let c = published::convert(&head, imputer.as_deref(), scaler.as_deref(), scale, source, &output)?;
            let yes = |b: bool| if b { "yes" } else { "no" };
            println!(
                "{} -> {} ({} inputs, {}, imputer {}, scaler {})",
                head.display(),
                output.display(),
                c.input_width,
                scale_label(scale),
                yes(c.imputer),
                yes(c.scaler),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(as_json: bool) -> anyhow::Result<ExitCode> {
    let (heads, cache) = published::list();
    if as_json {
        let (repository, commit) = published::REPOSITORY;
        let doc = json!({"schema": "relaxvqa.models/1", "repository": repository, "commit": commit, "cache": cache, "heads": heads});
        crate::output::print_json(&doc)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<22} {:<44} {:<10} {:>6} {:<12} cached", "name", "trained on", "scale", "SRCC", "SRCC on");
    for h in &heads {
        let scale = parse_scale(h.output_scale).map(scale_label).unwrap_or(h.output_scale);
        println!(
            "{:<22} {:<44} {:<10} {:>6.3} {:<12} {}{}",
            if h.default { format!("{} (default)", h.name) } else { h.name.to_owned() },
            h.trained_on,
            scale,
            h.published_srcc,
            h.srcc_on,
            if h.cached { "yes" } else { "no" },
            if h.warning.is_some() { "  (warning: no matching scaler)" } else { "" },
        );
    }
    println!("cache: {}", cache.display());
    Ok(ExitCode::SUCCESS)
}

fn fetch(names: &[String], output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let heads = published::find(names)?;
    if output.is_some() && heads.len() != 1 {
        bail!("--output takes one head; name exactly one");
    }
    let mut failed = 0;
    for name in &heads {
        if let Some(w) = published::warning(name) {
            eprintln!("relaxvqa: warning: {name}: {w}");
        }
        match published::fetch(name, output.as_deref()) {
            Ok(weights) => {
                println!("{name}: {}", weights.display());
                if let Some(out) = &output {
                    println!("{name} -> {}", out.display());
                }
            }
            Err(e) => {
                eprintln!("relaxvqa: error: {name}: {e}");
                failed += 1;
            }
        }
    }
    Ok(crate::output::batch_exit(heads.len(), failed))
}
