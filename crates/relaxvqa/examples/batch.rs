//! Extract the features of a folder of videos into an output folder: one
//! file per video, the combined matrix, `index.csv` and `failures.csv`;
//! run it again and finished videos are kept.
//!
//! ```sh
//! cargo run --release -p relaxvqa --example batch -- videos/ feats/ synthetic
//! ```

use relaxvqa::batch::{entries, videos_in, ExtractBatch, Outcome};
use relaxvqa::{ExtractOptions, Model, ModelOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: batch VIDEO_DIR OUT_DIR [WEIGHTS]";
    let (dir, out) = (args.next().ok_or(usage)?, args.next().ok_or(usage)?);
    let weights = args.next().unwrap_or_else(|| "hub".into());
    let rows = videos_in(dir.as_ref())?.into_iter().map(|p| (p, Vec::new())).collect();
    let (entries, _duplicates) = entries(rows);
    let batch = ExtractBatch {
        out_dir: out.into(),
        entries,
        extra_columns: Vec::new(),
        force: false,
        jobs: 1,
        as_f32: false,
        raw: None,
    };
    let model = Model::load(ModelOptions { weights, ..Default::default() })?;
    let summary = batch.run(&model, &ExtractOptions::default(), |e, outcome| {
        if let Some(Outcome::Failed { error }) = outcome {
            eprintln!("{}: {error}", e.name);
        }
    })?;
    println!(
        "{} extracted, {} kept, {} failed; matrix of {} rows in {}",
        summary.done(),
        summary.skipped(),
        summary.failed(),
        summary.combined.rows,
        summary.combined.path.display()
    );
    Ok(())
}
