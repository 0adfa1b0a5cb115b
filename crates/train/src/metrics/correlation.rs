//! Pearson, Spearman and Kendall (tau-b) correlations following the
//! arithmetic of `scipy.stats.pearsonr`, `spearmanr` and `kendalltau` (SciPy
//! 1.11), so that reported numbers agree with the authors' to ~1e-15.
//!
//! These functions assume finite inputs of equal length (checked by
//! [`super::evaluate`]); a constant input gives NaN, as in SciPy.

use std::cmp::Ordering;

/// NumPy's pairwise summation (`pairwise_sum` in `loops_utils.h`), used by
/// `np.mean` and `np.sum`: summing in the same tree keeps means bit-identical.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = a.len();
    if n < 8 {
        // NumPy starts this branch from -0.0 so that sums of -0.0 stay -0.0.
        let mut res = -0.0;
        for &v in a {
            res += v;
        }
        res
    } else if n <= BLOCK {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let mut i = 8;
        while i < n - (n % 8) {
            for (k, rk) in r.iter_mut().enumerate() {
                *rk += a[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.mean`: pairwise sum divided by the count.
pub fn mean(a: &[f64]) -> f64 {
    pairwise_sum(a) / a.len() as f64
}

/// Orders two finite values; `-0.0` and `0.0` compare equal, as in NumPy.
fn cmp_f64(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Ranks from 1 with ties given their average rank
/// (`scipy.stats.rankdata(method='average')`), the input of Spearman's rho.
pub fn rank_average(a: &[f64]) -> Vec<f64> {
    let n = a.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| cmp_f64(a[i], a[j]));
    let mut ranks = vec![0.0; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && a[order[end]] == a[order[start]] {
            end += 1;
        }
        // SciPy: 0.5 * (count[dense] + count[dense - 1] + 1), group [start, end).
        let r = 0.5 * (end as f64 + start as f64 + 1.0);
        for &i in &order[start..end] {
            ranks[i] = r;
        }
        start = end;
    }
    ranks
}

/// True when every value equals the first (SciPy's constant-input test).
pub fn is_constant(a: &[f64]) -> bool {
    a.iter().all(|&v| v == a[0])
}

/// Pearson's r as `scipy.stats.pearsonr` computes it: centred vectors, each
/// divided by its norm, dotted, clipped to [-1, 1]. NaN for constant input
/// or fewer than two values.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    if n < 2 || n != y.len() || is_constant(x) || is_constant(y) {
        return f64::NAN;
    }
    if n == 2 {
        return (x[1] - x[0]).signum() * (y[1] - y[0]).signum();
    }
    let (xmean, ymean) = (mean(x), mean(y));
    let xm: Vec<f64> = x.iter().map(|v| v - xmean).collect();
    let ym: Vec<f64> = y.iter().map(|v| v - ymean).collect();
    let normxm = xm.iter().map(|v| v * v).sum::<f64>().sqrt();
    let normym = ym.iter().map(|v| v * v).sum::<f64>().sqrt();
    let r: f64 = xm.iter().zip(&ym).map(|(a, b)| (a / normxm) * (b / normym)).sum();
    r.clamp(-1.0, 1.0)
}

/// Spearman's rho as `scipy.stats.spearmanr` computes it: average ranks,
/// then `np.corrcoef` (covariance scaled by 1/(n-1), divided by both standard
/// deviations in turn, clipped). NaN for constant input.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    if n < 2 || n != y.len() || is_constant(x) || is_constant(y) {
        return f64::NAN;
    }
    let (rx, ry) = (rank_average(x), rank_average(y));
    let (mx, my) = (mean(&rx), mean(&ry));
    let dx: Vec<f64> = rx.iter().map(|v| v - mx).collect();
    let dy: Vec<f64> = ry.iter().map(|v| v - my).collect();
    let inv = 1.0 / (n - 1) as f64;
    let cxx = dx.iter().map(|v| v * v).sum::<f64>() * inv;
    let cyy = dy.iter().map(|v| v * v).sum::<f64>() * inv;
    let cxy = dx.iter().zip(&dy).map(|(a, b)| a * b).sum::<f64>() * inv;
    (cxy / cxx.sqrt() / cyy.sqrt()).clamp(-1.0, 1.0)
}

/// Pair counts behind Kendall's tau-b, all exact integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KendallCounts {
    /// n(n-1)/2.
    pub total: u64,
    /// Pairs tied in x (including those tied in both).
    pub x_ties: u64,
    /// Pairs tied in y (including those tied in both).
    pub y_ties: u64,
    /// Pairs tied in both x and y.
    pub joint_ties: u64,
    /// Discordant pairs.
    pub discordant: u64,
}

impl KendallCounts {
    /// Counts the pairs in O(n log n): sort by (x, y), then count strict
    /// inversions of y with a merge sort (Knight's algorithm, as SciPy does).
    pub fn new(x: &[f64], y: &[f64]) -> Self {
        let n = x.len().min(y.len());
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| cmp_f64(x[i], x[j]).then(cmp_f64(y[i], y[j])));
        let tie_pairs = |c: u64| c * c.saturating_sub(1) / 2;
        let (mut x_ties, mut joint_ties) = (0u64, 0u64);
        let (mut cx, mut cxy) = (1u64, 1u64);
        for w in order.windows(2) {
            let (a, b) = (w[0], w[1]);
            if x[a] == x[b] {
                cx += 1;
                if y[a] == y[b] {
                    cxy += 1;
                } else {
                    joint_ties += tie_pairs(cxy);
                    cxy = 1;
                }
            } else {
                x_ties += tie_pairs(cx);
                joint_ties += tie_pairs(cxy);
                cx = 1;
                cxy = 1;
            }
        }
        if n > 0 {
            x_ties += tie_pairs(cx);
            joint_ties += tie_pairs(cxy);
        }
        let mut ys: Vec<f64> = order.iter().map(|&i| y[i]).collect();
        let mut buf = vec![0.0; n];
        let discordant = count_inversions(&mut ys, &mut buf);
        // ys is now sorted: count ties in y.
        let mut y_ties = 0u64;
        let mut cy = 1u64;
        for w in ys.windows(2) {
            if w[0] == w[1] {
                cy += 1;
            } else {
                y_ties += tie_pairs(cy);
                cy = 1;
            }
        }
        if n > 0 {
            y_ties += tie_pairs(cy);
        }
        Self { total: tie_pairs(n as u64), x_ties, y_ties, joint_ties, discordant }
    }

    /// Tau-b from the counts, as SciPy: `(tot - xtie - ytie + ntie - 2 dis)
    /// / sqrt(tot - xtie) / sqrt(tot - ytie)`, clipped; NaN when either
    /// variable is constant.
    pub fn tau_b(&self) -> f64 {
        if self.x_ties == self.total || self.y_ties == self.total {
            return f64::NAN;
        }
        let con_minus_dis = self.total as i128 - self.x_ties as i128 - self.y_ties as i128 + self.joint_ties as i128
            - 2 * self.discordant as i128;
        let tau = con_minus_dis as f64
            / ((self.total - self.x_ties) as f64).sqrt()
            / ((self.total - self.y_ties) as f64).sqrt();
        tau.clamp(-1.0, 1.0)
    }
}

/// Sorts `a` ascending and returns the number of pairs i < j with
/// a[i] > a[j] (equal values are not inversions).
fn count_inversions(a: &mut [f64], buf: &mut [f64]) -> u64 {
    let n = a.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let (left, right) = a.split_at_mut(mid);
    let mut inv = count_inversions(left, &mut buf[..mid]) + count_inversions(right, &mut buf[mid..]);
    let (mut i, mut j, mut k) = (0, 0, 0);
    while i < left.len() && j < right.len() {
        if right[j] < left[i] {
            inv += (left.len() - i) as u64;
            buf[k] = right[j];
            j += 1;
        } else {
            buf[k] = left[i];
            i += 1;
        }
        k += 1;
    }
    while i < left.len() {
        buf[k] = left[i];
        i += 1;
        k += 1;
    }
    while j < right.len() {
        buf[k] = right[j];
        j += 1;
        k += 1;
    }
    a.copy_from_slice(&buf[..n]);
    inv
}

/// Kendall's tau-b as `scipy.stats.kendalltau` (default `variant='b'`)
/// computes it. NaN for constant input.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> f64 {
    if x.len() < 2 || x.len() != y.len() {
        return f64::NAN;
    }
    KendallCounts::new(x, y).tau_b()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(rank_average(&[10.0, 20.0, 10.0, 30.0, 20.0, 20.0]), vec![1.5, 4.0, 1.5, 6.0, 4.0, 4.0]);
    }

    #[test]
    fn pairwise_sum_matches_plain_sum_on_integers() {
        let v: Vec<f64> = (0..1000).map(f64::from).collect();
        assert_eq!(pairwise_sum(&v), 499_500.0);
    }

    #[test]
    fn kendall_counts_by_brute_force() {
        let x = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 5.0, 4.0, 1.0];
        let y = [2.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 4.0, 2.0];
        let c = KendallCounts::new(&x, &y);
        let (mut xt, mut yt, mut jt, mut dis) = (0, 0, 0, 0);
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let (dx, dy) = (x[i] - x[j], y[i] - y[j]);
                xt += u64::from(dx == 0.0);
                yt += u64::from(dy == 0.0);
                jt += u64::from(dx == 0.0 && dy == 0.0);
                dis += u64::from(dx * dy < 0.0);
            }
        }
        assert_eq!((c.x_ties, c.y_ties, c.joint_ties, c.discordant, c.total), (xt, yt, jt, dis, 36));
    }

    #[test]
    fn constant_is_nan() {
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
        assert!(spearman(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0]).is_nan());
        assert!(kendall_tau_b(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
    }
}
