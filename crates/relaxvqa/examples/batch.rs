//! Extract the features of a folder of videos into an output folder: one
//! file per video, the combined matrix, `index.csv` and `failures.csv`;
//! run it again and finished videos are kept.
//!
//! ```sh
//! cargo run --release -p relaxvqa --example batch -- videos/ feats/ synthetic
//! ```

use relaxvqa::batch::{ExtractBatch, Outcome, Videos};
use relaxvqa::{ExtractOptions, Model, ModelOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: batch VIDEO_DIR OUT_DIR [WEIGHTS]";
    let (dir, out) = (args.next().ok_or(usage)?, args.next().ok_or(usage)?);
    let weights = args.next().unwrap_or_else(|| "hub".into());
    let videos = Videos { inputs: vec![dir.into()], ..Default::default() };
    let (batch, _duplicates) = ExtractBatch::plan(&videos, out)?;
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
