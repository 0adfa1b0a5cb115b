//! Farneback flow and flow-image parity against the authors' pipeline
//! (OpenCV 4.9.0, reference fixtures). Run with `-- --nocapture` to see the
//! measured errors.

use relaxvqa_fixtures::{TensorFile, VIDEOS};
use relaxvqa_image::flow::{farneback_flow, flow_to_rgb};
use relaxvqa_image::gray::rgb_to_gray;
use relaxvqa_image::{FlowField, GrayImage, RgbImage};

/// Mean end-point error bar, pixels.
const MAX_MEAN_EPE: f64 = 0.01;
/// 99th-percentile end-point error bar, pixels.
const MAX_P99_EPE: f64 = 0.05;

fn rgb(t: &TensorFile, name: &str) -> RgbImage {
    let ten = t.get(name);
    RgbImage::from_vec(ten.shape[1], ten.shape[0], ten.u8()).expect("fixture image has H*W*3 bytes")
}

fn flow(t: &TensorFile, name: &str) -> FlowField {
    let ten = t.get(name);
    assert_eq!(ten.shape.len(), 3);
    assert_eq!(ten.shape[2], 2);
    FlowField::from_vec(ten.shape[1], ten.shape[0], ten.f32()).expect("fixture flow has H*W*2 values")
}

/// Per-pixel end-point errors, sorted ascending.
fn epe(a: &FlowField, b: &FlowField) -> Vec<f64> {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    let mut e: Vec<f64> = a
        .as_slice()
        .chunks_exact(2)
        .zip(b.as_slice().chunks_exact(2))
        .map(|(p, q)| {
            let dx = f64::from(p[0]) - f64::from(q[0]);
            let dy = f64::from(p[1]) - f64::from(q[1]);
            (dx * dx + dy * dy).sqrt()
        })
        .collect();
    e.sort_by(f64::total_cmp);
    e
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

fn gray_pair(t: &TensorFile, j: usize) -> (GrayImage, GrayImage) {
    let prev = rgb(t, &format!("frame.{j}.rgb"));
    let next = rgb(t, &format!("pair.{j}.next_rgb"));
    (rgb_to_gray(&prev), rgb_to_gray(&next))
}

#[test]
fn farneback_flow_matches_opencv() {
    let mut worst = (0f64, 0f64);
    for stem in VIDEOS {
        let t = TensorFile::reference(stem);
        for j in 0..t.count("video.pair_count") {
            let (prev, next) = gray_pair(&t, j);
            let got = farneback_flow(&prev, &next).expect("same-size frames");
            let want = flow(&t, &format!("pair.{j}.flow"));
            let e = epe(&got, &want);
            let mean = e.iter().sum::<f64>() / e.len() as f64;
            let p99 = percentile(&e, 0.99);
            let max = e[e.len() - 1];
            println!("{stem} pair {j}: mean EPE {mean:.3e}, p99 EPE {p99:.3e}, max EPE {max:.3e}");
            worst = (worst.0.max(mean), worst.1.max(p99));
            assert!(mean < MAX_MEAN_EPE, "{stem} pair {j}: mean EPE {mean} >= {MAX_MEAN_EPE}");
            assert!(p99 < MAX_P99_EPE, "{stem} pair {j}: p99 EPE {p99} >= {MAX_P99_EPE}");
        }
    }
    println!("worst mean EPE {:.3e}, worst p99 EPE {:.3e}", worst.0, worst.1);
}

/// Bytes of a reference flow image allowed to differ from ours: two pixels of
/// the carphone fixture (pairs 6 and 8) have a value channel one level higher
/// in the reference than any float-exact replay of the authors' code on the
/// stored flow gives (the reference behaves as if the frame's largest
/// magnitude were one float step smaller); every other byte is identical.
const MAX_DIFF_BYTES_PER_PAIR: usize = 1;

#[test]
fn flow_image_is_byte_identical() {
    let mut total = 0usize;
    for stem in VIDEOS {
        let t = TensorFile::reference(stem);
        for j in 0..t.count("video.pair_count") {
            let f = flow(&t, &format!("pair.{j}.flow"));
            let got = flow_to_rgb(&f);
            let want = rgb(&t, &format!("pair.{j}.flow_rgb"));
            assert_eq!((got.width(), got.height()), (want.width(), want.height()));
            let diffs: Vec<u8> =
                got.as_bytes().iter().zip(want.as_bytes()).map(|(a, b)| a.abs_diff(*b)).filter(|&d| d != 0).collect();
            println!("{stem} pair {j}: flow image differs in {} of {} bytes", diffs.len(), want.as_bytes().len());
            assert!(diffs.len() <= MAX_DIFF_BYTES_PER_PAIR, "{stem} pair {j}: {} bytes differ", diffs.len());
            assert!(diffs.iter().all(|&d| d <= 1), "{stem} pair {j}: a byte differs by more than 1");
            total += diffs.len();
        }
    }
    println!("flow images differ in {total} bytes in all");
    assert!(total <= 2, "flow images differ in {total} bytes in all");
}

#[test]
fn flow_image_of_computed_flow_is_close() {
    // Informational end to end: our flow through our flow image, against the
    // reference flow image (V is a min-max rescale, so tiny flow differences
    // can move a few values by one level).
    for stem in VIDEOS {
        let t = TensorFile::reference(stem);
        for j in 0..t.count("video.pair_count") {
            let (prev, next) = gray_pair(&t, j);
            let got = flow_to_rgb(&farneback_flow(&prev, &next).expect("same-size frames"));
            let want = rgb(&t, &format!("pair.{j}.flow_rgb"));
            let diffs: Vec<u8> = got.as_bytes().iter().zip(want.as_bytes()).map(|(a, b)| a.abs_diff(*b)).collect();
            let n = diffs.iter().filter(|&&d| d != 0).count();
            let max = diffs.iter().copied().max().unwrap_or(0);
            println!("{stem} pair {j}: end-to-end flow image differs in {n} bytes, max {max}");
            let frac = n as f64 / diffs.len() as f64;
            assert!(frac < 0.01, "{stem} pair {j}: {frac} of bytes differ");
        }
    }
}

#[test]
fn size_mismatch_is_an_error() {
    let a = GrayImage::from_vec(4, 4, vec![0; 16]).expect("4x4");
    let b = GrayImage::from_vec(4, 3, vec![0; 12]).expect("4x3");
    assert!(farneback_flow(&a, &b).is_err());
}

#[test]
fn tiny_and_flat_images_give_zero_flow() {
    for (w, h) in [(1, 1), (3, 2), (7, 40), (40, 7)] {
        let a = GrayImage::from_vec(w, h, vec![100; w * h]).expect("size");
        let f = farneback_flow(&a, &a).expect("same size");
        assert_eq!((f.width(), f.height()), (w, h));
        assert!(f.as_slice().iter().all(|v| v.abs() < 1e-6), "{w}x{h}");
    }
}

#[test]
fn recovers_a_known_translation() {
    // A smooth pattern moved by (1.5, -0.75) pixels: away from the border the
    // flow must find the shift to a small fraction of a pixel (odd sizes too).
    for (w, h) in [(160, 120), (171, 133)] {
        translation_case(w, h);
    }
}

fn translation_case(w: usize, h: usize) {
    let (sx, sy) = (1.5f64, -0.75f64);
    let pattern = |x: f64, y: f64| {
        let v = 128.0 + 60.0 * (x * 0.21).sin() * (y * 0.17).cos() + 40.0 * ((x + 2.0 * y) * 0.07).sin();
        v.round().clamp(0.0, 255.0) as u8
    };
    let mut a = Vec::with_capacity(w * h);
    let mut b = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            a.push(pattern(x as f64, y as f64));
            b.push(pattern(x as f64 - sx, y as f64 - sy));
        }
    }
    let a = GrayImage::from_vec(w, h, a).expect("size");
    let b = GrayImage::from_vec(w, h, b).expect("size");
    let f = farneback_flow(&a, &b).expect("same size");
    let mut err = 0f64;
    let mut n = 0usize;
    for y in 20..h - 20 {
        for x in 20..w - 20 {
            let i = 2 * (y * w + x);
            let (dx, dy) = (f64::from(f.as_slice()[i]), f64::from(f.as_slice()[i + 1]));
            err += ((dx - sx).powi(2) + (dy - sy).powi(2)).sqrt();
            n += 1;
        }
    }
    let mean = err / n as f64;
    println!("synthetic shift {w}x{h}: mean EPE {mean:.4}");
    assert!(mean < 0.1, "mean EPE {mean}");
}
