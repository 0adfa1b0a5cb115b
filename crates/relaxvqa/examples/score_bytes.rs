//! Score a video held in memory (an upload, a download, a database blob):
//! FFmpeg reads the bytes through custom I/O; nothing is written to disk.
//!
//! ```sh
//! cargo run --release -p relaxvqa --example score_bytes -- clip.mp4 synthetic head.safetensors
//! ```

use relaxvqa::{Input, Model, ModelOptions, ScoreOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let video = args.next().ok_or("usage: score_bytes VIDEO [WEIGHTS] [HEAD]")?;
    let weights = args.next().unwrap_or_else(|| "hub".into());
    let head = args.next().unwrap_or_else(|| "konvid-1k".into());
    let bytes = std::fs::read(&video)?;
    let model = Model::load(ModelOptions { weights, head: Some(head), ..Default::default() })?;
    let score = model.score(Input::bytes("upload", bytes), &ScoreOptions::default())?;
    println!("upload: {:.3} ({})", score.score, score.scale.as_str());
    Ok(())
}
