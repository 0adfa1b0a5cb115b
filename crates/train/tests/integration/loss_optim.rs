//! The authors' loss, PyTorch's SGD and the cosine schedule against values
//! computed by hand, and the trainable head's BatchNorm and SGD step.

use candle_core::{Device, Tensor, Var};
use relaxvqa_train::loss::{mae_rank_loss, mae_rank_loss_f64, scalar, LossWeights};
use relaxvqa_train::model::{HeadConfig, TrainHead, PARAMETER_NAMES};
use relaxvqa_train::optim::{cosine_annealing_lr, Sgd, SgdConfig};
use relaxvqa_train::rng::Rng;

/// f32 arithmetic on values of order 1.
const TOL_F32: f64 = 1e-6;

fn close(what: &str, got: f64, want: f64, tol: f64) {
    let d = (got - want).abs();
    println!("{what:<28} got {got:<14.9} want {want:<14.9} |diff| {d:.2e} (tol {tol:.0e})");
    assert!(d <= tol, "{what}: {got} vs {want}");
}

fn vec1(t: &Tensor) -> Vec<f32> {
    t.flatten_all().expect("flatten").to_vec1::<f32>().expect("f32")
}

#[test]
fn loss_matches_hand_computation() {
    let dev = Device::Cpu;
    let pred = [1.0f32, 2.5, 2.0, 4.0];
    let mos = [1.5f32, 2.0, 3.0, 3.5];
    // MAE = (0.5 + 0.5 + 1.0 + 0.5) / 4 = 0.625. Rank: ordered pairs (2,0)
    // relu(1.5 - 1.0) = 0.5 and (2,1) relu(1.0 + 0.5) = 1.5 are the only
    // positive terms: 2.0 / (4 * 3) = 1/6. Loss = 0.6 * 0.625 + 1/6.
    let want = 0.6 * 0.625 + 2.0 / 12.0;
    let p = Var::from_slice(&pred, (4, 1), &dev).expect("var");
    let y = Tensor::from_slice(&mos, (4, 1), &dev).expect("tensor");
    let loss = mae_rank_loss(p.as_tensor(), &y, LossWeights::AUTHORS).expect("loss");
    close("loss (candle)", scalar(&loss).expect("scalar"), want, TOL_F32);
    let p64: Vec<f64> = pred.iter().map(|&v| f64::from(v)).collect();
    let y64: Vec<f64> = mos.iter().map(|&v| f64::from(v)).collect();
    close("loss (f64)", mae_rank_loss_f64(&p64, &y64, LossWeights::AUTHORS), want, 1e-15);
    // Gradient: MAE 0.6 * sign(p - y) / 4 = [-0.15, 0.15, -0.15, 0.15];
    // rank (1/12) * [+1, +1, -2, 0].
    let grads = loss.backward().expect("backward");
    let g = vec1(grads.get(p.as_tensor()).expect("grad"));
    let want_g = [-0.15 + 1.0 / 12.0, 0.15 + 1.0 / 12.0, -0.15 - 2.0 / 12.0, 0.15];
    for (k, (&gk, wk)) in g.iter().zip(want_g).enumerate() {
        close(&format!("dloss/dpred[{k}]"), f64::from(gk), wk, TOL_F32);
    }
}

#[test]
fn loss_ties_and_zero_differences_have_pytorch_subgradients() {
    let dev = Device::Cpu;
    // y has a tie (1, 2) and pred[2] == mos[2]: |0| and relu(0) give 0 gradient.
    let pred = [1.0f32, 2.5, 2.0, 4.0];
    let mos = [1.5f32, 2.0, 2.0, 3.5];
    // MAE = (0.5 + 0.5 + 0 + 0.5) / 4; every rank term is <= 0 (the tie's
    // sign is 0, and (3,1): relu(1.5 - 1.5) = 0).
    let p = Var::from_slice(&pred, 4, &dev).expect("var");
    let y = Tensor::from_slice(&mos, 4, &dev).expect("tensor");
    let loss = mae_rank_loss(p.as_tensor(), &y, LossWeights::AUTHORS).expect("loss");
    close("loss with tie", scalar(&loss).expect("scalar"), 0.6 * 0.375, TOL_F32);
    let g = vec1(loss.backward().expect("backward").get(p.as_tensor()).expect("grad"));
    let want_g = [-0.15, 0.15, 0.0, 0.15];
    for (k, (&gk, wk)) in g.iter().zip(want_g).enumerate() {
        close(&format!("tie dloss/dpred[{k}]"), f64::from(gk), wk, TOL_F32);
    }
    let one = mae_rank_loss(
        &p.as_tensor().narrow(0, 0, 1).expect("narrow"),
        &y.narrow(0, 0, 1).expect("narrow"),
        LossWeights::AUTHORS,
    )
    .expect("n=1");
    close("single-sample loss (MAE only)", scalar(&one).expect("scalar"), 0.6 * 0.5, TOL_F32);
}

#[test]
fn sgd_two_steps_follow_pytorch_formulas() {
    let dev = Device::Cpu;
    // loss = sum(c * p): gradient c at every step.
    let p = Var::from_slice(&[1.0f32, -2.0], 2, &dev).expect("var");
    let c = Tensor::from_slice(&[0.5f32, 3.0], 2, &dev).expect("c");
    let mut sgd = Sgd::new(vec![p.clone()], SgdConfig::AUTHORS).expect("sgd");
    for _ in 0..2 {
        let loss = (p.as_tensor() * &c).expect("mul").sum_all().expect("sum");
        sgd.step(&loss.backward().expect("backward")).expect("step");
    }
    // Step 1: d_p = c + 0.005 p = [0.505, 2.99] = buf; p = p - 0.1 buf = [0.9495, -2.299].
    // Step 2: d_p = c + 0.005 p = [0.5047475, 2.988505];
    //   buf = 0.9 [0.505, 2.99] + d_p = [0.9592475, 5.679505];
    //   p = [0.9495 - 0.09592475, -2.299 - 0.5679505] = [0.85357525, -2.8669505].
    let got = vec1(p.as_tensor());
    close("p[0] after 2 steps", f64::from(got[0]), 0.853_575_25, TOL_F32);
    close("p[1] after 2 steps", f64::from(got[1]), -2.866_950_5, TOL_F32);
    let buf = vec1(sgd.momentum_buffer(0).expect("buffer"));
    close("momentum buffer[0]", f64::from(buf[0]), 0.959_247_5, TOL_F32);
    close("momentum buffer[1]", f64::from(buf[1]), 5.679_505, TOL_F32);
}

#[test]
fn cosine_schedule_matches_pytorch() {
    let (base, eta_min, t_max) = (0.1, 1e-5, 20);
    close("lr epoch 0", cosine_annealing_lr(base, eta_min, t_max, 0), 0.1, 1e-15);
    close("lr epoch T/2", cosine_annealing_lr(base, eta_min, t_max, 10), (0.1 + 1e-5) / 2.0, 1e-15);
    close("lr epoch T", cosine_annealing_lr(base, eta_min, t_max, 20), 1e-5, 1e-15);
    // PyTorch's recursive form, stepped once per epoch.
    let mut lr = base;
    for e in 1..=t_max {
        let pi = std::f64::consts::PI;
        lr = (1.0 + (pi * e as f64 / t_max as f64).cos()) / (1.0 + (pi * (e - 1) as f64 / t_max as f64).cos())
            * (lr - eta_min)
            + eta_min;
        let d = (lr - cosine_annealing_lr(base, eta_min, t_max, e)).abs();
        assert!(d < 1e-15, "epoch {e}: {d}");
    }
    println!("recursive and closed forms agree within 1e-15 over {t_max} epochs");
}

fn tiny_head(drop: f64, seed: u64) -> TrainHead {
    let cfg = HeadConfig { input_features: 3, hidden_features: 4, drop_rate: drop, bn_momentum: 0.1, bn_eps: 1e-5 };
    TrainHead::new(cfg, &mut Rng::new(seed), &Device::Cpu).expect("head")
}

fn batch() -> (Tensor, Tensor) {
    let x = [0.1f32, 0.9, 0.3, 0.7, 0.2, 0.5, 0.4, 0.4, 0.8, 0.0, 0.6, 0.1, 0.9, 0.3, 0.6];
    let y = [2.0f32, 3.5, 1.0, 4.5, 3.0];
    (Tensor::from_slice(&x, (5, 3), &Device::Cpu).expect("x"), Tensor::from_slice(&y, (5, 1), &Device::Cpu).expect("y"))
}

#[test]
fn batchnorm_running_statistics_follow_pytorch() {
    let mut head = tiny_head(0.0, 1);
    let (x, _) = batch();
    let sd = head.to_state_dict().expect("sd");
    let (w, b) = (sd.get("fc1.weight").expect("w"), sd.get("fc1.bias").expect("b"));
    head.forward_train(&x, &mut Rng::new(9)).expect("forward");
    let xs = vec1(&x);
    let (rm, rv) = head.bn_stats();
    let (rm, rv) = (vec1(rm), vec1(rv));
    for c in 0..4 {
        let h: Vec<f64> = (0..5)
            .map(|r| {
                f64::from(b.data[c])
                    + (0..3).map(|k| f64::from(w.data[c * 3 + k]) * f64::from(xs[r * 3 + k])).sum::<f64>()
            })
            .collect();
        let mean = h.iter().sum::<f64>() / 5.0;
        let var_unbiased = h.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4.0;
        close(&format!("running_mean[{c}]"), f64::from(rm[c]), 0.1 * mean, TOL_F32);
        close(&format!("running_var[{c}]"), f64::from(rv[c]), 0.9 + 0.1 * var_unbiased, TOL_F32);
    }
    assert_eq!(head.num_batches_tracked(), 1);
}

#[test]
fn one_sgd_step_on_the_head_changes_weights_as_the_formulas_say() {
    let mut head = tiny_head(0.0, 5);
    let before = head.to_state_dict().expect("sd");
    let (x, y) = batch();
    let pred = head.forward_train(&x, &mut Rng::new(2)).expect("forward");
    let loss = mae_rank_loss(&pred, &y, LossWeights::AUTHORS).expect("loss");
    let grads = loss.backward().expect("backward");
    // fc3.bias gradient = sum over the batch of dloss/dpred, by hand:
    // 0.6 sign(p - y) / n plus the rank terms' +-1 / (n (n - 1)).
    let p: Vec<f64> = vec1(&pred).iter().map(|&v| f64::from(v)).collect();
    let t: Vec<f64> = vec1(&y).iter().map(|&v| f64::from(v)).collect();
    let n = p.len() as f64;
    let mut dp = vec![0.0; p.len()];
    for i in 0..p.len() {
        dp[i] += 0.6 * (p[i] - t[i]).signum() / n;
        for j in 0..p.len() {
            let s = (t[i] - t[j]).signum() * f64::from(u8::from(t[i] != t[j]));
            if (t[i] - t[j]) - s * (p[i] - p[j]) > 0.0 {
                dp[i] -= s / (n * (n - 1.0));
                dp[j] += s / (n * (n - 1.0));
            }
        }
    }
    let params = head.parameters();
    let g_b3 = f64::from(vec1(grads.get(params[7].as_tensor()).expect("fc3.bias grad"))[0]);
    close("fc3.bias gradient", g_b3, dp.iter().sum(), TOL_F32);
    let gs: Vec<Vec<f32>> = params.iter().map(|v| vec1(grads.get(v.as_tensor()).expect("grad"))).collect();
    let mut sgd = Sgd::new(params, SgdConfig::AUTHORS).expect("sgd");
    sgd.step(&grads).expect("step");
    let after = head.to_state_dict().expect("sd");
    // First step: buf = d_p = g + 0.005 p, p' = p - 0.1 (g + 0.005 p).
    let mut worst: f64 = 0.0;
    for (name, g) in PARAMETER_NAMES.iter().zip(&gs) {
        let (p0, p1) = (&before.get(name).expect("before").data, &after.get(name).expect("after").data);
        for ((&a, &b), &gk) in p0.iter().zip(p1).zip(g) {
            let want = f64::from(a) - 0.1 * (f64::from(gk) + 0.005 * f64::from(a));
            worst = worst.max((f64::from(b) - want).abs());
        }
    }
    println!("largest |p' - (p - lr (g + wd p))| over all weights: {worst:.2e}");
    assert!(worst < TOL_F32, "{worst}");
    assert_ne!(before.get("fc1.weight"), after.get("fc1.weight"));
}
