//! Score one video file with a published head.
//!
//! ```sh
//! cargo run --release -p relaxvqa --example score_file -- clip.mp4
//! # offline, with the deterministic test weights and a head file:
//! cargo run --release -p relaxvqa --example score_file -- clip.mp4 synthetic head.safetensors
//! ```

use relaxvqa::{Model, ModelOptions, ScoreOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let video = args.next().ok_or("usage: score_file VIDEO [WEIGHTS] [HEAD]")?;
    let weights = args.next().unwrap_or_else(|| "hub".into());
    let head = args.next().unwrap_or_else(|| "konvid-1k".into());
    let model = Model::load(ModelOptions { weights, head: Some(head), ..Default::default() })?;
    let opts = ScoreOptions { segments: Some(2.0), ..Default::default() };
    let score = model.score(video.as_str(), &opts)?;
    println!("{video}: {:.3} ({})", score.score, score.scale.as_str());
    for s in score.segments.iter().flatten() {
        println!("  {:6.1}-{:6.1} s  {:.3}", s.start, s.end, s.score);
    }
    for w in &score.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}
