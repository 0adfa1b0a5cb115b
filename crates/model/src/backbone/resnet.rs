//! ResNet-50 (He, Zhang, Ren, Sun, "Deep Residual Learning for Image
//! Recognition", CVPR 2016, table 1), torchvision's v1.5 topology (the stride
//! of a downsampling bottleneck sits on its 3x3 convolution), as ReLaX-VQA
//! uses it (Wang, Katsenou, Bull 2024, arXiv 2407.11496; spec section 2): the
//! spatial means of 15 intermediate outputs (the 13,120-value layer stack) and
//! the global average pool with its mean, max and std (2,051 values), both
//! from one forward pass.
//!
//! Inference only: every BatchNorm is folded into the convolution before it
//! at load time, except `bn1`, because the layer stack taps `conv1`'s raw
//! output; `bn1` runs as a per-channel affine in the same pass that takes
//! the tap. Activations are channels-last (`[pixels, channels]`), so a 1x1
//! convolution is one matrix product over the buffer as it lies, a strided
//! 1x1 convolution subsamples first, and 3x3 and 7x7 convolutions go through
//! im2col; bias, ReLU, residual add and the spatial sums of a tap share one
//! pass after each product.

use rayon::prelude::*;

use super::kernels::{self, conv_out, im2col, rows_pass, split_batch, BufferPool, Window};
use super::matmul::{matmul, MatRef, Threads};
use super::transpose::transpose_with;
use super::winograd::{Tile, WinogradConv};
use super::{check_tensors, host_batch, weight, BackboneError, ImageBatch, Normalisation, ResNetOutput, INPUT_SIZE};
use crate::StateDict;

/// Length of the layer stack: 64 + 3x256 + 4x512 + 4x1024 + 3x2048.
pub const LAYER_STACK_LEN: usize = 13_120;
/// Length of the pool: 2048 averages, then their mean, max and std.
pub const RESNET_POOL_LEN: usize = 2_051;

/// BatchNorm epsilon (torchvision's default).
const BN_EPS: f64 = 1e-5;
/// Blocks per stage and bottleneck width of each stage.
const STAGES: [(usize, usize); 4] = [(3, 64), (4, 128), (6, 256), (3, 512)];
/// Blocks of each stage whose outputs the layer stack taps (all but
/// `layer3[4]` and `layer3[5]`).
const TAPPED: [usize; 4] = [3, 4, 4, 3];
/// Largest im2col buffer built at once, in floats: bigger batches are
/// convolved in groups of images.
const IM2COL_BUDGET: usize = 1 << 22;
/// im2col floats one tile of [`Conv::conv_tiled`] gathers at most.
const TILE_FLOATS: usize = 1 << 15;
/// Name used in errors.
const NAME: &str = "ResNet-50";

/// The `(name, shape)` of every tensor ResNet-50 reads, in torchvision
/// naming; `fc.*` is left out since the classifier is never computed.
pub fn resnet50_expected_tensors() -> Vec<(String, Vec<usize>)> {
    let mut v = vec![("conv1.weight".to_owned(), vec![64, 3, 7, 7])];
    push_bn(&mut v, "bn1", 64);
    let mut cin = 64;
    for (li, &(blocks, width)) in STAGES.iter().enumerate() {
        for bi in 0..blocks {
            let p = format!("layer{}.{bi}", li + 1);
            v.push((format!("{p}.conv1.weight"), vec![width, cin, 1, 1]));
            push_bn(&mut v, &format!("{p}.bn1"), width);
            v.push((format!("{p}.conv2.weight"), vec![width, width, 3, 3]));
            push_bn(&mut v, &format!("{p}.bn2"), width);
            v.push((format!("{p}.conv3.weight"), vec![4 * width, width, 1, 1]));
            push_bn(&mut v, &format!("{p}.bn3"), 4 * width);
            if bi == 0 {
                v.push((format!("{p}.downsample.0.weight"), vec![4 * width, cin, 1, 1]));
                push_bn(&mut v, &format!("{p}.downsample.1"), 4 * width);
            }
            cin = 4 * width;
        }
    }
    v
}

fn push_bn(v: &mut Vec<(String, Vec<usize>)>, prefix: &str, c: usize) {
    for leaf in ["weight", "bias", "running_mean", "running_var"] {
        v.push((format!("{prefix}.{leaf}"), vec![c]));
    }
}

/// A BatchNorm as `y = x * scale + shift`, computed in f64.
fn bn_affine(sd: &StateDict, prefix: &str) -> (Vec<f64>, Vec<f64>) {
    let g = weight(sd, &format!("{prefix}.weight"));
    let b = weight(sd, &format!("{prefix}.bias"));
    let m = weight(sd, &format!("{prefix}.running_mean"));
    let var = weight(sd, &format!("{prefix}.running_var"));
    let scale: Vec<f64> = g.iter().zip(var).map(|(&g, &v)| f64::from(g) / (f64::from(v) + BN_EPS).sqrt()).collect();
    let shift = b.iter().zip(m).zip(&scale).map(|((&b, &m), &s)| f64::from(b) - f64::from(m) * s).collect();
    (scale, shift)
}

/// A convolution as a `[k*k*cin, cout]` matrix (rows ordered ky, kx, cin to
/// match channels-last im2col) and a bias.
struct Conv {
    w: Vec<f32>,
    bias: Vec<f32>,
    cin: usize,
    cout: usize,
    k: usize,
    /// The Winograd form of a 3x3 convolution that runs with stride 1.
    winograd: Option<WinogradConv>,
}

impl Conv {
    /// Reads `{conv}.weight` (`[cout, cin, k, k]`), scaling each output
    /// channel by `scale` and taking `shift` as the bias.
    fn new(sd: &StateDict, conv: &str, scale: &[f64], shift: &[f64], cin: usize, k: usize) -> Self {
        let cout = scale.len();
        // Source column ci * k * k + t (input channel, filter tap) becomes
        // row t * cin + ci: taps outermost, as the im2col windows lie.
        let taps = k * k;
        let w = transpose_with(
            weight(sd, &format!("{conv}.weight")),
            cout,
            cin * taps,
            |j| (j % taps) * cin + j / taps,
            |co, v| (f64::from(v) * scale[co]) as f32,
        );
        Self { w, bias: shift.iter().map(|&s| s as f32).collect(), cin, cout, k, winograd: None }
    }

    /// Prepares the Winograd form, F(4x4, 3x3) (3x3 convolutions run with
    /// stride 1; it measured faster than F(2x2, 3x3) and than im2col).
    fn with_winograd(mut self) -> Self {
        if self.k == 3 {
            self.winograd = Some(WinogradConv::new(&self.w, self.cin, self.cout, Tile::F4));
        }
        self
    }

    /// A convolution with its following BatchNorm folded in.
    fn folded(sd: &StateDict, conv: &str, bn: &str, cin: usize, k: usize) -> Self {
        let (scale, shift) = bn_affine(sd, bn);
        Self::new(sd, conv, &scale, &shift, cin, k)
    }

    fn matrix(&self) -> MatRef<'_> {
        MatRef::new(&self.w, self.k * self.k * self.cin, self.cout, self.cout)
    }

    /// Convolves channels-last `x` (`[b, h, w, cin]`, padding `k / 2`) into
    /// `out` (`[b, ho, wo, cout]`; added to it when `accumulate`), then runs
    /// `epilogue(row, acc)` on every output row, where `acc` is a per-task
    /// `cout`-wide accumulator whose totals land in `sums` (per image, f64)
    /// when given. Returns `(ho, wo)`.
    ///
    /// Four routes: Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions, the
    /// buffer as it lies for 1x1 stride-1, cache-sized im2col tiles for the
    /// 7x7 stem, and a whole-group im2col for the strided rest (tiles
    /// measured slower there on the target machine).
    #[allow(clippy::too_many_arguments)]
    fn conv<F>(
        &self,
        x: &[f32],
        b: usize,
        h: usize,
        w: usize,
        stride: usize,
        out: &mut [f32],
        accumulate: bool,
        sums: Option<&mut [f64]>,
        cx: &Ctx<'_>,
        epilogue: F,
    ) -> (usize, usize)
    where
        F: Fn(&mut [f32], &mut [f32]) + Sync,
    {
        let pool = cx.pool;
        let win = Window { h, w, c: self.cin, k: self.k, stride, pad: self.k / 2 };
        let (ho, wo) = win.out();
        let (hw, cout, kc) = (ho * wo, self.cout, win.len());
        assert_eq!(out.len(), b * hw * cout, "convolution output size");
        if let (Some(wg), 1, false, None) = (&self.winograd, stride, accumulate, &sums) {
            // The epilogue runs inside the output transform; with no sums
            // to take, its accumulator is empty.
            wg.forward(x, b, h, w, out, pool, &|px: &mut [f32]| epilogue(px, &mut []));
            return (ho, wo);
        } else if self.k == 7 {
            // The stem: 147 floats per window would make an im2col matrix
            // several times the output; tiles measured 40% faster.
            return self.conv_tiled(x, b, win, out, accumulate, sums, epilogue);
        } else if self.k == 1 && stride == 1 {
            // A 1x1 convolution reads the channels-last buffer as it lies.
            matmul(out, cout, MatRef::new(x, b * hw, kc, kc), self.matrix(), accumulate, 1.0, cx.threads);
        } else {
            // im2col (a plain subsample for strided 1x1) in groups of images,
            // to bound the buffer.
            let per_image = hw * kc;
            let group = (IM2COL_BUDGET / per_image).clamp(1, b.max(1));
            let mut col = pool.take(group * per_image);
            let image_in = h * w * self.cin;
            for (g, dst) in out.chunks_mut(group * hw * cout).enumerate() {
                let n = dst.len() / (hw * cout);
                let col = &mut col[..n * per_image];
                im2col(&x[g * group * image_in..(g * group + n) * image_in], n, win, col);
                matmul(dst, cout, MatRef::new(col, n * hw, kc, kc), self.matrix(), accumulate, 1.0, cx.threads);
            }
            pool.give(col);
        }
        rows_pass(out, cout, hw, sums, epilogue);
        (ho, wo)
    }

    /// A convolution through im2col in cache-sized tiles of output pixels:
    /// each task gathers its windows, multiplies them single-threaded and
    /// runs the epilogue while the tile is hot, so the im2col matrix never
    /// exists whole (for the stem, 147 floats per output pixel, it would
    /// be several times the size of the output).
    #[allow(clippy::too_many_arguments)]
    fn conv_tiled<F>(
        &self,
        x: &[f32],
        b: usize,
        win: Window,
        out: &mut [f32],
        accumulate: bool,
        sums: Option<&mut [f64]>,
        epilogue: F,
    ) -> (usize, usize)
    where
        F: Fn(&mut [f32], &mut [f32]) + Sync,
    {
        let (ho, wo) = win.out();
        let (hw, cout, kc) = (ho * wo, self.cout, win.len());
        let image_in = win.h * win.w * win.c;
        // Output pixels per tile: the tile's windows stay within L2.
        let tile = (TILE_FLOATS / kc).clamp(16, hw);
        let tiles_per_image = hw.div_ceil(tile);
        let partials: Vec<(usize, Vec<f32>)> = out
            .par_chunks_mut(hw * cout)
            .enumerate()
            .flat_map_iter(|(n, img)| img.chunks_mut(tile * cout).enumerate().map(move |(t, o)| (n, t, o)))
            .map_init(Vec::new, |col, (n, t, o)| {
                let rows = o.len() / cout;
                col.resize(rows * kc, 0.0);
                let image = &x[n * image_in..(n + 1) * image_in];
                for (r, patch) in col.chunks_exact_mut(kc).enumerate() {
                    win.gather(image, t * tile + r, patch);
                }
                matmul(o, cout, MatRef::new(col, rows, kc, kc), self.matrix(), accumulate, 1.0, Threads::One);
                let mut acc = vec![0f32; cout];
                for row in o.chunks_exact_mut(cout) {
                    epilogue(row, &mut acc);
                }
                (n, acc)
            })
            .collect();
        debug_assert!(partials.len() == b * tiles_per_image);
        if let Some(sums) = sums {
            for (n, acc) in partials {
                for (s, v) in sums[n * cout..(n + 1) * cout].iter_mut().zip(acc) {
                    *s += f64::from(v);
                }
            }
        }
        (ho, wo)
    }

    /// Output buffer (from `pool`, contents unspecified) for `b` images
    /// after this convolution, with the output height and width.
    fn output(&self, pool: &BufferPool, b: usize, h: usize, w: usize, stride: usize) -> (Vec<f32>, usize, usize) {
        let (ho, wo) = (conv_out(h, self.k, stride, self.k / 2), conv_out(w, self.k, stride, self.k / 2));
        (pool.take(b * ho * wo * self.cout), ho, wo)
    }
}

/// What every convolution of a forward pass shares: the activation
/// buffers and how its matrix products use the threads.
struct Ctx<'a> {
    pool: &'a BufferPool,
    threads: Threads,
}

/// `v = max(v + bias, 0)` over a row.
#[inline(always)]
fn bias_relu(row: &mut [f32], bias: &[f32]) {
    for (v, &b) in row.iter_mut().zip(bias) {
        *v = (*v + b).max(0.0);
    }
}

/// `acc += row`.
#[inline(always)]
fn accumulate(acc: &mut [f32], row: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(row) {
        *a += v;
    }
}

/// A bottleneck block with its BatchNorms folded in.
struct Bottleneck {
    conv1: Conv,
    conv2: Conv,
    conv3: Conv,
    down: Option<Conv>,
    stride: usize,
    /// conv3's bias plus the downsample's, applied in the residual pass.
    out_bias: Vec<f32>,
}

impl Bottleneck {
    fn new(sd: &StateDict, p: &str, cin: usize, width: usize, stride: usize, has_down: bool) -> Self {
        let conv1 = Conv::folded(sd, &format!("{p}.conv1"), &format!("{p}.bn1"), cin, 1);
        let mut conv2 = Conv::folded(sd, &format!("{p}.conv2"), &format!("{p}.bn2"), width, 3);
        if stride == 1 {
            conv2 = conv2.with_winograd();
        }
        let conv3 = Conv::folded(sd, &format!("{p}.conv3"), &format!("{p}.bn3"), width, 1);
        let down =
            has_down.then(|| Conv::folded(sd, &format!("{p}.downsample.0"), &format!("{p}.downsample.1"), cin, 1));
        let out_bias = match &down {
            Some(d) => conv3.bias.iter().zip(&d.bias).map(|(a, b)| a + b).collect(),
            None => conv3.bias.clone(),
        };
        Self { conv1, conv2, conv3, down, stride, out_bias }
    }

    /// Runs the block on channels-last `x` (`[b, h, w, cin]`), consuming it;
    /// with `sums` given, adds the per-image channel sums of the output.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: Vec<f32>,
        b: usize,
        h: usize,
        w: usize,
        sums: Option<&mut [f64]>,
        cx: &Ctx<'_>,
    ) -> (Vec<f32>, usize, usize) {
        let pool = cx.pool;
        let (c1, c2, c3) = (&self.conv1, &self.conv2, &self.conv3);
        let (mut t1, _, _) = c1.output(pool, b, h, w, 1);
        c1.conv(&x, b, h, w, 1, &mut t1, false, None, cx, |row, _| bias_relu(row, &c1.bias));
        let (mut t2, ho, wo) = c2.output(pool, b, h, w, self.stride);
        c2.conv(&t1, b, h, w, self.stride, &mut t2, false, None, cx, |row, _| bias_relu(row, &c2.bias));
        pool.give(t1);
        // The residual branch becomes the accumulator of conv3's product:
        // the identity is `x` itself, a projection is its own product.
        let mut out = match &self.down {
            Some(d) => {
                let (mut o, _, _) = d.output(pool, b, h, w, self.stride);
                d.conv(&x, b, h, w, self.stride, &mut o, false, None, cx, |_, _| {});
                pool.give(x);
                o
            }
            None => x,
        };
        let bias = &self.out_bias;
        let want = sums.is_some();
        c3.conv(&t2, b, ho, wo, 1, &mut out, true, sums, cx, |row, acc| {
            bias_relu(row, bias);
            if want {
                accumulate(acc, row);
            }
        });
        pool.give(t2);
        (out, ho, wo)
    }
}

/// ResNet-50 with BatchNorm folded, ready for inference.
pub struct ResNet50 {
    /// `conv1` without `bn1` (its raw output is the first tap).
    conv1: Conv,
    /// `bn1` as a per-channel affine.
    bn1_scale: Vec<f32>,
    bn1_shift: Vec<f32>,
    stages: Vec<Vec<Bottleneck>>,
    /// Activation buffers reused across forward passes.
    buffers: BufferPool,
}

impl ResNet50 {
    /// Builds the network from torchvision-named weights, checking first that
    /// every tensor of [`resnet50_expected_tensors`] is present with its
    /// shape.
    pub fn from_state_dict(sd: &StateDict) -> Result<Self, BackboneError> {
        check_tensors(NAME, sd, &resnet50_expected_tensors())?;
        let (scale, shift) = bn_affine(sd, "bn1");
        let conv1 = Conv::new(sd, "conv1", &[1.0; 64], &[0.0; 64], 3, 7);
        let mut stages = Vec::with_capacity(STAGES.len());
        let mut cin = 64;
        for (li, &(blocks, width)) in STAGES.iter().enumerate() {
            let stage = (0..blocks)
                .map(|bi| {
                    let stride = if li > 0 && bi == 0 { 2 } else { 1 };
                    let block = Bottleneck::new(sd, &format!("layer{}.{bi}", li + 1), cin, width, stride, bi == 0);
                    cin = 4 * width;
                    block
                })
                .collect();
            stages.push(stage);
        }
        Ok(Self {
            conv1,
            bn1_scale: scale.iter().map(|&v| v as f32).collect(),
            bn1_shift: shift.iter().map(|&v| v as f32).collect(),
            stages,
            buffers: BufferPool::default(),
        })
    }

    /// Name used in errors and reports.
    pub const NAME: &'static str = NAME;
    /// The normalisation its input batch must have.
    pub const NORMALISATION: Normalisation = Normalisation::ImageNet;
    /// Forward cost per 224x224 image, in GFLOP (2 per multiply-add).
    pub const GFLOP_PER_IMAGE: f64 = 8.2;

    /// One forward pass over a batch of 224x224 images normalised with
    /// [`Normalisation::ImageNet`]: the layer stack and the pool of each.
    pub fn forward(&self, batch: &ImageBatch) -> Result<Vec<ResNetOutput>, BackboneError> {
        let (b, input) = host_batch(NAME, batch)?;
        if b == 0 {
            return Ok(Vec::new());
        }
        let (stack, pool) = self.forward_host(b, input);
        Ok(stack
            .chunks_exact(LAYER_STACK_LEN)
            .zip(pool.chunks_exact(RESNET_POOL_LEN))
            .map(|(s, p)| ResNetOutput { layer_stack: s.to_vec(), pool: p.to_vec() })
            .collect())
    }

    /// The forward pass on host buffers: `input` is `[b, 3, 224, 224]`;
    /// returns `[b, 13120]` and `[b, 2051]`, row-major.
    ///
    /// With several threads and at least as many images, the batch is
    /// split into one part per thread, each run with single-threaded matrix
    /// products: the cores then never wait on each other inside a product
    /// (5-10% faster than sharing every product on 2 cores). Images left
    /// over run after, sharing the products.
    fn forward_host(&self, b: usize, input: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let image = 3 * INPUT_SIZE * INPUT_SIZE;
        let mut stack = Vec::with_capacity(b * LAYER_STACK_LEN);
        let mut pool = Vec::with_capacity(b * RESNET_POOL_LEN);
        for (part, parts) in split_batch(b) {
            let (s, p) = self.forward_part(part.len(), &input[part.start * image..part.end * image], parts);
            stack.extend(s);
            pool.extend(p);
        }
        (stack, pool)
    }

    /// [`Self::forward_host`] on one part of a batch.
    /// `parts > 1` runs `parts` equal parts in parallel, each with
    /// single-threaded products.
    fn forward_part(&self, b: usize, input: &[f32], parts: usize) -> (Vec<f32>, Vec<f32>) {
        if parts > 1 {
            let image = 3 * INPUT_SIZE * INPUT_SIZE;
            let outs: Vec<(Vec<f32>, Vec<f32>)> = input
                .par_chunks(b / parts * image)
                .map(|part| self.forward_images(part.len() / image, part, Threads::One))
                .collect();
            return outs.into_iter().fold((Vec::new(), Vec::new()), |(mut s, mut p), (s2, p2)| {
                s.extend(s2);
                p.extend(p2);
                (s, p)
            });
        }
        self.forward_images(b, input, Threads::Pool)
    }

    /// The forward pass proper, its products using `threads`.
    fn forward_images(&self, b: usize, input: &[f32], threads: Threads) -> (Vec<f32>, Vec<f32>) {
        let mut stack = vec![0f32; b * LAYER_STACK_LEN];
        let mut offset = 0;
        // Scatters per-image channel sums into the stack as means.
        let mut put = |sums: &[f64], c: usize, hw: usize| {
            for n in 0..b {
                let dst = &mut stack[n * LAYER_STACK_LEN + offset..n * LAYER_STACK_LEN + offset + c];
                for (d, &s) in dst.iter_mut().zip(&sums[n * c..(n + 1) * c]) {
                    *d = (s / hw as f64) as f32;
                }
            }
            offset += c;
        };

        // Stem: the image goes channels-last, conv1, tap, bn1 + ReLU, max pool.
        let plane = INPUT_SIZE * INPUT_SIZE;
        let pool = &self.buffers;
        let cx = Ctx { pool, threads };
        let mut nhwc = pool.take(b * 3 * plane);
        for (src, dst) in input.chunks_exact(3 * plane).zip(nhwc.chunks_exact_mut(3 * plane)) {
            for (p, px) in dst.chunks_exact_mut(3).enumerate() {
                for (ch, v) in px.iter_mut().enumerate() {
                    *v = src[ch * plane + p];
                }
            }
        }
        let (mut y, h, w) = self.conv1.output(pool, b, INPUT_SIZE, INPUT_SIZE, 2);
        let mut sums = vec![0f64; b * 64];
        let (scale, shift) = (&self.bn1_scale, &self.bn1_shift);
        self.conv1.conv(&nhwc, b, INPUT_SIZE, INPUT_SIZE, 2, &mut y, false, Some(&mut sums), &cx, |row, acc| {
            for (((v, a), &s), &t) in row.iter_mut().zip(acc.iter_mut()).zip(scale).zip(shift) {
                *a += *v;
                *v = (*v * s + t).max(0.0);
            }
        });
        pool.give(nhwc);
        put(&sums, 64, h * w);
        let (hp, wp) = (conv_out(h, 3, 2, 1), conv_out(w, 3, 2, 1));
        let mut x = pool.take(b * hp * wp * 64);
        kernels::max_pool_3x3_s2(&y, b, h, w, 64, &mut x);
        pool.give(y);
        let (mut h, mut w) = (hp, wp);

        let mut last_sums = Vec::new();
        for (li, stage) in self.stages.iter().enumerate() {
            for (bi, block) in stage.iter().enumerate() {
                let cout = block.conv3.cout;
                let tapped = bi < TAPPED[li];
                let mut sums = vec![0f64; if tapped { b * cout } else { 0 }];
                let (out, ho, wo) = block.forward(x, b, h, w, tapped.then_some(sums.as_mut_slice()), &cx);
                if tapped {
                    put(&sums, cout, ho * wo);
                    last_sums = sums;
                }
                (x, h, w) = (out, ho, wo);
            }
        }
        pool.give(x);

        // The last tap, layer4[2], is the network's final output: its spatial
        // means are the global average pool.
        let c = 2048;
        let mut pool = vec![0f32; b * RESNET_POOL_LEN];
        for n in 0..b {
            let means: Vec<f32> = last_sums[n * c..(n + 1) * c].iter().map(|&s| (s / (h * w) as f64) as f32).collect();
            let dst = &mut pool[n * RESNET_POOL_LEN..(n + 1) * RESNET_POOL_LEN];
            dst[..c].copy_from_slice(&means);
            let (mean, max, std) = mean_max_std(&means);
            dst[c..].copy_from_slice(&[mean, max, std]);
        }
        (stack, pool)
    }
}

/// Mean, max and population standard deviation, accumulated in f64.
pub(crate) fn mean_max_std(v: &[f32]) -> (f32, f32, f32) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
    let max = v.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    (mean as f32, max, var.sqrt() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_tensor_count_and_stack_width() {
        let v = resnet50_expected_tensors();
        // conv1 + bn1 (5), 16 blocks x 15, 4 downsamples x 5.
        assert_eq!(v.len(), 5 + 16 * 15 + 4 * 5);
        let taps: usize = 64 + STAGES.iter().zip(TAPPED).map(|(&(_, w), t)| 4 * w * t).sum::<usize>();
        assert_eq!(taps, LAYER_STACK_LEN);
    }

    #[test]
    fn missing_tensor_is_named() {
        let mut sd = crate::synthetic::synthetic_state_dict(&resnet50_expected_tensors());
        sd.remove("layer3.5.bn2.running_var");
        let err = ResNet50::from_state_dict(&sd).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("layer3.5.bn2.running_var"), "{err}");
    }

    #[test]
    fn split_batch_gives_the_single_image_results() {
        // Five images on two threads: two parts of two images (one part per
        // thread, single-threaded products), then one image sharing the
        // products. Each must match that image run alone, bit for bit.
        let sd = crate::synthetic::synthetic_state_dict(&resnet50_expected_tensors());
        let net = ResNet50::from_state_dict(&sd).expect("synthetic weights fit");
        let image = 3 * INPUT_SIZE * INPUT_SIZE;
        let input: Vec<f32> = (0..5 * image).map(|i| ((i * 7919) % 509) as f32 / 254.5 - 1.0).collect();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("thread pool");
        let (stack, pool) = two.install(|| net.forward_host(5, &input));
        let mut worst = 0f32;
        for n in 0..5 {
            let (s1, p1) = net.forward_images(1, &input[n * image..(n + 1) * image], Threads::One);
            let batch_s = &stack[n * LAYER_STACK_LEN..(n + 1) * LAYER_STACK_LEN];
            let batch_p = &pool[n * RESNET_POOL_LEN..(n + 1) * RESNET_POOL_LEN];
            for (a, b) in batch_s.iter().zip(&s1).chain(batch_p.iter().zip(&p1)) {
                worst = worst.max((a - b).abs() / b.abs().max(1e-3));
            }
        }
        println!("ResNet-50 split batch vs single images: worst relative difference {worst:.2e}");
        assert!(worst == 0.0, "worst relative difference {worst}");
    }
}
