//! Fragment parity against the authors' pipeline (reference fixtures).

use relaxvqa_fixtures::{TensorFile, VIDEOS};
use relaxvqa_image::fragment::{average_half, mosaic, pair_fragments, patch_scores, residual, select_patches};
use relaxvqa_image::RgbImage;

fn rgb(t: &TensorFile, name: &str) -> RgbImage {
    let ten = t.get(name);
    RgbImage::from_vec(ten.shape[1], ten.shape[0], ten.u8()).unwrap()
}

fn positions(t: &TensorFile, name: &str) -> Vec<(usize, usize)> {
    t.get(name).i64().chunks_exact(2).map(|p| (p[0] as usize, p[1] as usize)).collect()
}

fn diff_count(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

#[test]
fn residual_scores_positions_and_frame_fragment_are_identical() {
    for stem in VIDEOS {
        let t = TensorFile::reference(stem);
        for j in 0..t.count("video.pair_count") {
            let prev = rgb(&t, &format!("frame.{j}.rgb"));
            let next = rgb(&t, &format!("pair.{j}.next_rgb"));
            let res = residual(&prev, &next).unwrap();
            let scores = patch_scores(&res);
            let want: Vec<f64> = t.get(&format!("pair.{j}.residual_patch_sums")).f64();
            let got: Vec<f64> = scores.sums.iter().map(|&s| s as f64).collect();
            assert_eq!(t.get(&format!("pair.{j}.residual_patch_sums")).shape, vec![scores.rows, scores.cols]);
            let sum_diffs = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            let sel = select_patches(&scores);
            let pos_ok = sel == positions(&t, &format!("pair.{j}.positions"));
            let frag = mosaic(&prev, &sel).expect("mosaic");
            let frag_diff = diff_count(frag.as_bytes(), &t.get(&format!("pair.{j}.frame_fragment")).u8());
            println!(
                "{stem} pair {j}: patch sums differing {sum_diffs}/{}, positions identical {pos_ok} (tie at cut {}), frame fragment bytes differing {frag_diff}",
                want.len(),
                t.get(&format!("pair.{j}.tie_at_cut")).i64()[0]
            );
            assert_eq!(sum_diffs, 0);
            assert!(pos_ok, "{stem} pair {j}: positions differ");
            assert_eq!(frag_diff, 0);
        }
    }
}

#[test]
fn merged_fragment_from_reference_flow_image_is_identical() {
    for stem in VIDEOS {
        let t = TensorFile::reference(stem);
        for j in 0..t.count("video.pair_count") {
            let prev = rgb(&t, &format!("frame.{j}.rgb"));
            let next = rgb(&t, &format!("pair.{j}.next_rgb"));
            let flow_rgb = rgb(&t, &format!("pair.{j}.flow_rgb"));
            let f = pair_fragments(&prev, &next, &flow_rgb).unwrap();
            let flow_pos_ok = f.flow_positions == positions(&t, &format!("pair.{j}.flow_positions"));
            let merged_diff =
                diff_count(f.merged_fragment.as_bytes(), &t.get(&format!("pair.{j}.merged_fragment")).u8());
            println!("{stem} pair {j}: flow positions identical {flow_pos_ok}, merged fragment bytes differing {merged_diff}");
            assert!(flow_pos_ok);
            assert_eq!(merged_diff, 0);
            // The half-average is symmetric.
            let res = mosaic(&residual(&prev, &next).unwrap(), &f.positions).expect("mosaic");
            let flo = mosaic(&flow_rgb, &f.flow_positions).expect("mosaic");
            assert_eq!(average_half(&flo, &res).unwrap(), f.merged_fragment);
        }
    }
}
