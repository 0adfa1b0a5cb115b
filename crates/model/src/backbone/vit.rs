//! DINO ViT-B/16 (Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR
//! 2021, section 3.1; weights from Caron et al., "Emerging Properties in
//! Self-Supervised Vision Transformers", ICCV 2021) as ReLaX-VQA uses it
//! (Wang, Katsenou, Bull 2024, arXiv 2407.11496; spec section 2): the final
//! LayerNorm of every token, the CLS token dropped, and the mean, max and
//! population std of each of the 768 channels over the 196 patch tokens
//! (2,304 values).
//!
//! Tokens are one contiguous `[B * 197, 768]` buffer; every linear layer is
//! one matrix product over it, biases that feed a residual are added in the
//! LayerNorm pass that reads the residual stream anyway, and attention runs
//! per (image, head) on strided views of the qkv buffer, in parallel.

use rayon::prelude::*;

use super::kernels::{self, split_batch};
use super::matmul::{matmul, MatRef, Threads};
use super::transpose::transpose;
use super::{check_tensors, host_batch, weight, BackboneError, ImageBatch, Normalisation, INPUT_SIZE};
use crate::StateDict;

/// Length of the ViT pool: mean, max and std of 768 channels.
pub const VIT_POOL_LEN: usize = 3 * DIM;

/// Patch side in pixels.
const PATCH: usize = 16;
/// Patches per side.
const GRID: usize = INPUT_SIZE / PATCH;
/// Patch tokens per image.
const PATCHES: usize = GRID * GRID;
/// Tokens per image (patches and CLS).
const TOKENS: usize = PATCHES + 1;
/// Embedding width.
const DIM: usize = 768;
/// Transformer blocks.
const DEPTH: usize = 12;
/// Attention heads.
const HEADS: usize = 12;
/// Width of one head.
const HEAD_DIM: usize = DIM / HEADS;
/// Hidden width of the MLP.
const MLP: usize = 3072;
/// LayerNorm epsilon (timm's ViT: 1e-6).
const LN_EPS: f32 = 1e-6;
/// Name used in errors.
const NAME: &str = "DINO ViT-B/16";

/// The `(name, shape)` of every tensor the ViT reads, in DINO/timm naming.
pub fn vit_b16_expected_tensors() -> Vec<(String, Vec<usize>)> {
    let mut v = vec![
        ("cls_token".to_owned(), vec![1, 1, DIM]),
        ("pos_embed".to_owned(), vec![1, TOKENS, DIM]),
        ("patch_embed.proj.weight".to_owned(), vec![DIM, 3, PATCH, PATCH]),
        ("patch_embed.proj.bias".to_owned(), vec![DIM]),
    ];
    for i in 0..DEPTH {
        let p = format!("blocks.{i}");
        for (leaf, shape) in [
            ("norm1.weight", vec![DIM]),
            ("norm1.bias", vec![DIM]),
            ("attn.qkv.weight", vec![3 * DIM, DIM]),
            ("attn.qkv.bias", vec![3 * DIM]),
            ("attn.proj.weight", vec![DIM, DIM]),
            ("attn.proj.bias", vec![DIM]),
            ("norm2.weight", vec![DIM]),
            ("norm2.bias", vec![DIM]),
            ("mlp.fc1.weight", vec![MLP, DIM]),
            ("mlp.fc1.bias", vec![MLP]),
            ("mlp.fc2.weight", vec![DIM, MLP]),
            ("mlp.fc2.bias", vec![DIM]),
        ] {
            v.push((format!("{p}.{leaf}"), shape));
        }
    }
    v.push(("norm.weight".to_owned(), vec![DIM]));
    v.push(("norm.bias".to_owned(), vec![DIM]));
    v
}

/// A linear layer as a `[in, out]` row-major matrix (PyTorch's `[out, in]`
/// transposed once at load) and its bias.
struct Linear {
    w: Vec<f32>,
    bias: Vec<f32>,
    din: usize,
    dout: usize,
}

impl Linear {
    fn new(sd: &StateDict, prefix: &str, din: usize, dout: usize) -> Self {
        let w = transpose(weight(sd, &format!("{prefix}.weight")), dout, din);
        Self { w, bias: weight(sd, &format!("{prefix}.bias")).to_vec(), din, dout }
    }

    fn matrix(&self) -> MatRef<'_> {
        MatRef::new(&self.w, self.din, self.dout, self.dout)
    }

    /// `out = x * W` (bias not added) for `rows` rows; `accumulate` adds to
    /// `out` instead of overwriting it.
    fn product(&self, x: &[f32], rows: usize, out: &mut [f32], accumulate: bool, threads: Threads) {
        matmul(out, self.dout, MatRef::new(x, rows, self.din, self.din), self.matrix(), accumulate, 1.0, threads);
    }
}

/// A LayerNorm's affine parameters.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Norm {
    fn new(sd: &StateDict, prefix: &str) -> Self {
        Self {
            gamma: weight(sd, &format!("{prefix}.weight")).to_vec(),
            beta: weight(sd, &format!("{prefix}.bias")).to_vec(),
        }
    }
}

/// One pre-norm transformer block.
struct Block {
    norm1: Norm,
    qkv: Linear,
    proj: Linear,
    norm2: Norm,
    fc1: Linear,
    fc2: Linear,
}

/// DINO ViT-B/16, ready for inference.
pub struct VitB16 {
    /// Patch embedding as a `[3*16*16, 768]` matrix (rows ordered channel,
    /// row, column, as PyTorch's weight is laid out).
    patch: Linear,
    /// CLS token plus its position embedding.
    cls_pos: Vec<f32>,
    /// Position embeddings of the 196 patches.
    pos: Vec<f32>,
    blocks: Vec<Block>,
    norm: Norm,
}

impl VitB16 {
    /// Builds the network from DINO/timm-named weights, checking first that
    /// every tensor of [`vit_b16_expected_tensors`] is present with its
    /// shape.
    pub fn from_state_dict(sd: &StateDict) -> Result<Self, BackboneError> {
        check_tensors(NAME, sd, &vit_b16_expected_tensors())?;
        let blocks = (0..DEPTH)
            .map(|i| {
                let p = format!("blocks.{i}");
                Block {
                    norm1: Norm::new(sd, &format!("{p}.norm1")),
                    qkv: Linear::new(sd, &format!("{p}.attn.qkv"), DIM, 3 * DIM),
                    proj: Linear::new(sd, &format!("{p}.attn.proj"), DIM, DIM),
                    norm2: Norm::new(sd, &format!("{p}.norm2")),
                    fc1: Linear::new(sd, &format!("{p}.mlp.fc1"), DIM, MLP),
                    fc2: Linear::new(sd, &format!("{p}.mlp.fc2"), MLP, DIM),
                }
            })
            .collect();
        let pos_all = weight(sd, "pos_embed");
        let cls_pos = weight(sd, "cls_token").iter().zip(&pos_all[..DIM]).map(|(c, p)| c + p).collect();
        Ok(Self {
            patch: Linear::new(sd, "patch_embed.proj", 3 * PATCH * PATCH, DIM),
            cls_pos,
            pos: pos_all[DIM..].to_vec(),
            blocks,
            norm: Norm::new(sd, "norm"),
        })
    }

    /// Name used in errors and reports.
    pub const NAME: &'static str = NAME;
    /// The normalisation its input batch must have.
    pub const NORMALISATION: Normalisation = Normalisation::UnitRange;
    /// Forward cost per 224x224 image, in GFLOP (2 per multiply-add).
    pub const GFLOP_PER_IMAGE: f64 = 35.1;

    /// One forward pass over a batch of 224x224 images scaled to [0, 1]
    /// ([`Normalisation::UnitRange`]): the 2,304-value pool of each.
    pub fn forward(&self, batch: &ImageBatch) -> Result<Vec<Vec<f32>>, BackboneError> {
        let (b, input) = host_batch(NAME, batch)?;
        if b == 0 {
            return Ok(Vec::new());
        }
        Ok(self.forward_host(b, input).chunks_exact(VIT_POOL_LEN).map(<[f32]>::to_vec).collect())
    }

    /// The forward pass on host buffers: `input` is `[b, 3, 224, 224]`.
    ///
    /// With several threads and at least as many images, the batch runs in
    /// one part per thread with single-threaded matrix products (see
    /// `kernels::split_batch`); images left over run after, sharing the
    /// products.
    fn forward_host(&self, b: usize, input: &[f32]) -> Vec<f32> {
        let image = 3 * INPUT_SIZE * INPUT_SIZE;
        let mut pool = Vec::with_capacity(b * VIT_POOL_LEN);
        for (part, parts) in split_batch(b) {
            let input = &input[part.start * image..part.end * image];
            if parts > 1 {
                let per = part.len() / parts;
                let outs: Vec<Vec<f32>> =
                    input.par_chunks(per * image).map(|x| self.forward_images(per, x, Threads::One)).collect();
                pool.extend(outs.into_iter().flatten());
            } else {
                pool.extend(self.forward_images(part.len(), input, Threads::Pool));
            }
        }
        pool
    }

    /// The forward pass proper, its products using `threads`.
    fn forward_images(&self, b: usize, input: &[f32], threads: Threads) -> Vec<f32> {
        let rows = b * TOKENS;
        let mut x = self.embed(b, input, threads);
        let mut h = vec![0f32; rows * DIM];
        let mut qkv = vec![0f32; rows * 3 * DIM];
        let mut heads = vec![0f32; rows * DIM];
        let mut attn = vec![0f32; rows * DIM];
        let mut hidden = vec![0f32; rows * MLP];
        // fc2's bias, added to the residual stream by the next LayerNorm pass.
        let mut pending: Option<&[f32]> = None;
        for blk in &self.blocks {
            kernels::layer_norm_rows(&mut x, &mut h, DIM, pending, &blk.norm1.gamma, &blk.norm1.beta, LN_EPS);
            blk.qkv.product(&h, rows, &mut qkv, false, threads);
            kernels::add_bias_rows(&mut qkv, 3 * DIM, &blk.qkv.bias);
            attention(&qkv, &mut heads, &mut attn);
            blk.proj.product(&attn, rows, &mut x, true, threads);
            kernels::layer_norm_rows(
                &mut x,
                &mut h,
                DIM,
                Some(&blk.proj.bias),
                &blk.norm2.gamma,
                &blk.norm2.beta,
                LN_EPS,
            );
            blk.fc1.product(&h, rows, &mut hidden, false, threads);
            kernels::bias_gelu_rows(&mut hidden, MLP, &blk.fc1.bias);
            blk.fc2.product(&hidden, rows, &mut x, true, threads);
            pending = Some(&blk.fc2.bias);
        }
        kernels::layer_norm_rows(&mut x, &mut h, DIM, pending, &self.norm.gamma, &self.norm.beta, LN_EPS);

        let mut pool = vec![0f32; b * VIT_POOL_LEN];
        pool.par_chunks_mut(VIT_POOL_LEN).zip(h.par_chunks(TOKENS * DIM)).for_each(|(out, tokens)| {
            pool_patches(&tokens[DIM..], out);
        });
        pool
    }

    /// Patch embedding, CLS token and position embeddings: `[b * 197, 768]`.
    fn embed(&self, b: usize, input: &[f32], threads: Threads) -> Vec<f32> {
        let k = 3 * PATCH * PATCH;
        let plane = INPUT_SIZE * INPUT_SIZE;
        // Non-overlapping patches, one row each, columns (channel, y, x).
        let mut col = vec![0f32; b * PATCHES * k];
        col.par_chunks_mut(k).enumerate().for_each(|(r, row)| {
            let (n, p) = (r / PATCHES, r % PATCHES);
            let (py, px) = (p / GRID, p % GRID);
            for ch in 0..3 {
                for y in 0..PATCH {
                    let src = n * 3 * plane + ch * plane + (py * PATCH + y) * INPUT_SIZE + px * PATCH;
                    let dst = (ch * PATCH + y) * PATCH;
                    row[dst..dst + PATCH].copy_from_slice(&input[src..src + PATCH]);
                }
            }
        });
        let mut x = vec![0f32; b * TOKENS * DIM];
        for (n, tokens) in x.chunks_exact_mut(TOKENS * DIM).enumerate() {
            tokens[..DIM].copy_from_slice(&self.cls_pos);
            let patches = &mut tokens[DIM..];
            for (dst, pos) in patches.chunks_exact_mut(DIM).zip(self.pos.chunks_exact(DIM)) {
                for ((d, &p), &bias) in dst.iter_mut().zip(pos).zip(&self.patch.bias) {
                    *d = p + bias;
                }
            }
            let src = &col[n * PATCHES * k..(n + 1) * PATCHES * k];
            self.patch.product(src, PATCHES, patches, true, threads);
        }
        x
    }
}

/// Multi-head self-attention over the `[b * 197, 3 * 768]` qkv buffer
/// (q, k, v each split into heads of 64 columns) into `out` (`[b * 197, 768]`,
/// heads side by side). `heads` is scratch space of `out`'s size, laid out
/// `[b, head, 197, 64]` so that the parallel tasks own disjoint slices.
fn attention(qkv: &[f32], heads: &mut [f32], out: &mut [f32]) {
    let scale = 1.0 / (HEAD_DIM as f32).sqrt();
    let stride = 3 * DIM;
    let scratch = || vec![0f32; TOKENS * TOKENS];
    heads.par_chunks_mut(TOKENS * HEAD_DIM).enumerate().for_each_init(scratch, |scores, (task, dst)| {
        let (n, hd) = (task / HEADS, task % HEADS);
        let base = n * TOKENS * stride + hd * HEAD_DIM;
        let view = |offset: usize| MatRef::new(&qkv[base + offset..], TOKENS, HEAD_DIM, stride);
        matmul(scores, TOKENS, view(0), view(DIM).t(), false, scale, Threads::One);
        kernels::softmax_rows(scores, TOKENS);
        matmul(dst, HEAD_DIM, MatRef::new(scores, TOKENS, TOKENS, TOKENS), view(2 * DIM), false, 1.0, Threads::One);
    });
    out.par_chunks_mut(TOKENS * DIM).zip(heads.par_chunks(TOKENS * DIM)).for_each(|(o, hs)| {
        for (hd, src) in hs.chunks_exact(TOKENS * HEAD_DIM).enumerate() {
            for (t, s) in src.chunks_exact(HEAD_DIM).enumerate() {
                o[t * DIM + hd * HEAD_DIM..t * DIM + (hd + 1) * HEAD_DIM].copy_from_slice(s);
            }
        }
    });
}

/// Mean, max and population std of each channel over the patch tokens
/// (`[196, 768]`), written as `[mean; 768], [max; 768], [std; 768]`.
fn pool_patches(tokens: &[f32], out: &mut [f32]) {
    let mut sum = vec![0f64; DIM];
    let mut max = vec![f32::NEG_INFINITY; DIM];
    for t in tokens.chunks_exact(DIM) {
        for ((s, m), &v) in sum.iter_mut().zip(max.iter_mut()).zip(t) {
            *s += f64::from(v);
            *m = m.max(v);
        }
    }
    let n = (tokens.len() / DIM) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let mut var = vec![0f64; DIM];
    for t in tokens.chunks_exact(DIM) {
        for ((q, &m), &v) in var.iter_mut().zip(&mean).zip(t) {
            *q += (f64::from(v) - m).powi(2);
        }
    }
    for c in 0..DIM {
        out[c] = mean[c] as f32;
        out[DIM + c] = max[c];
        out[2 * DIM + c] = (var[c] / n).sqrt() as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_tensor_count() {
        assert_eq!(vit_b16_expected_tensors().len(), 4 + DEPTH * 12 + 2);
    }

    #[test]
    fn misshapen_tensor_is_named() {
        let mut specs = vit_b16_expected_tensors();
        if let Some(s) = specs.iter_mut().find(|(n, _)| n == "pos_embed") {
            s.1 = vec![1, 577, DIM];
        }
        let sd = crate::synthetic::synthetic_state_dict(&specs);
        let err = VitB16::from_state_dict(&sd).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("pos_embed") && err.contains("577"), "{err}");
    }

    #[test]
    fn split_batch_gives_the_single_image_results() {
        // Five images on two threads: two parts of two images, then one image
        // sharing the products; each must match itself alone, bit for bit.
        let sd = crate::synthetic::synthetic_state_dict(&vit_b16_expected_tensors());
        let net = VitB16::from_state_dict(&sd).expect("synthetic weights fit");
        let image = 3 * INPUT_SIZE * INPUT_SIZE;
        let input: Vec<f32> = (0..5 * image).map(|i| ((i * 7919) % 509) as f32 / 509.0).collect();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("thread pool");
        let pool = two.install(|| net.forward_host(5, &input));
        let mut worst = 0f32;
        for n in 0..5 {
            let single = net.forward_images(1, &input[n * image..(n + 1) * image], Threads::One);
            for (a, b) in pool[n * VIT_POOL_LEN..(n + 1) * VIT_POOL_LEN].iter().zip(&single) {
                worst = worst.max((a - b).abs() / b.abs().max(1e-3));
            }
        }
        println!("ViT-B/16 split batch vs single images: worst relative difference {worst:.2e}");
        assert!(worst == 0.0, "worst relative difference {worst}");
    }
}
