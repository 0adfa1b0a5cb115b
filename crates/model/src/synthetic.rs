//! Synthetic weights, spec v1 (`docs/spec/synthetic-weights.md`).
//!
//! Deterministic values for every tensor of a state dict, computed from the
//! tensor's name and shape alone, so that tests and benchmarks can run the
//! full-size backbones and the head without any weight file. The reference
//! fixtures were computed with these same values, which is what makes the
//! parity tests possible.

use rayon::prelude::*;

use crate::{HostTensor, StateDict};

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// splitmix64's golden-ratio increment.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The per-tensor seed: FNV-1a-64 of the name's UTF-8 bytes.
///
/// Public so that tests can check it against the spec's test vectors.
pub fn seed(name: &str) -> u64 {
    name.bytes().fold(FNV_OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// The uniform draw `u` in [-1, 1) for flat index `i` of a tensor with `seed`.
///
/// Public so that tests can check it against the spec's test vectors.
pub fn uniform(seed: u64, i: usize) -> f64 {
    let mut z = seed.wrapping_add((i as u64).wrapping_add(1).wrapping_mul(GOLDEN));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// How a tensor's uniform draws become values (the spec's rule table).
#[derive(Clone, Copy, Debug)]
enum Rule {
    Zero,
    Scaled(f64),
    RunningVar,
    Offset(f64),
}

fn rule(name: &str, shape: &[usize]) -> Rule {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    match leaf {
        "num_batches_tracked" => Rule::Zero,
        "cls_token" | "pos_embed" => Rule::Scaled(0.02),
        "running_mean" => Rule::Scaled(0.1),
        "running_var" => Rule::RunningVar,
        _ if shape.len() >= 2 => {
            let fan_in: usize = shape[1..].iter().product();
            Rule::Scaled((3.0 / fan_in as f64).sqrt())
        }
        "weight" => Rule::Offset(0.1),
        "bias" => Rule::Scaled(0.1),
        // The spec does not cover other 1-D leaves; a plain scaled draw keeps
        // the generator total.
        _ => Rule::Scaled(0.1),
    }
}

/// The synthetic tensor for a state-dict name and shape (spec v1).
///
/// `num_batches_tracked` (int64 in PyTorch) comes out as zeros in f32.
pub fn synthetic_tensor(name: &str, shape: &[usize]) -> HostTensor {
    let n: usize = shape.iter().product();
    let s = seed(name);
    let r = rule(name, shape);
    // Each value depends on its index only, so the threads may share the work.
    let data = (0..n)
        .into_par_iter()
        .map(|i| {
            let u = uniform(s, i);
            let v = match r {
                Rule::Zero => 0.0,
                Rule::Scaled(k) => k * u,
                Rule::RunningVar => 1.0 + 0.25 * (u + 1.0),
                Rule::Offset(k) => 1.0 + k * u,
            };
            v as f32
        })
        .collect();
    HostTensor { shape: shape.to_vec(), data }
}

/// A whole synthetic state dict from `(name, shape)` pairs, such as a
/// network's own expected-tensor list.
pub fn synthetic_state_dict(specs: &[(String, Vec<usize>)]) -> StateDict {
    let mut sd = StateDict::new();
    for (name, shape) in specs {
        sd.insert(name.clone(), synthetic_tensor(name, shape));
    }
    sd
}
