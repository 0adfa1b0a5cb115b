//! A line-by-line port of MINPACK's `lmdif` (Levenberg-Marquardt with a
//! forward-difference Jacobian) and its helpers `enorm`, `fdjac2`, `qrfac`,
//! `lmpar` and `qrsolv`, from the Fortran sources that SciPy 1.11 (the
//! version behind the fixtures) compiles into `scipy.optimize.leastsq`, which
//! `curve_fit` calls.
//!
//! It exists because the 4-parameter logistic fit stops wherever MINPACK's
//! convergence tests first pass, so the fitted parameters (and, slightly, the
//! PLCC and RMSE after the fit) depend on the exact sequence of steps; only
//! the same algorithm, operation for operation, lands where SciPy lands.
//! Matrices are column-major (`a[i + j * m]`), as in Fortran; comments name
//! the Fortran statement labels where control flow follows them.

// Index loops mirror the Fortran so that every operation stays in its order.
#![allow(clippy::needless_range_loop)]

/// Machine precision, MINPACK's `dpmpar(1)`.
const EPSMCH: f64 = f64::EPSILON;
/// Smallest positive normal magnitude, MINPACK's `dpmpar(2)`.
const DWARF: f64 = f64::MIN_POSITIVE;

/// Settings of one `lmdif` run; [`LmOptions::scipy_leastsq`] gives the ones
/// `scipy.optimize.leastsq` (and so `curve_fit` with `method='lm'`) passes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LmOptions {
    /// Relative reduction of the sum of squares below which iteration stops.
    pub ftol: f64,
    /// Relative change of the parameters below which iteration stops.
    pub xtol: f64,
    /// Cosine between residuals and Jacobian columns below which iteration stops.
    pub gtol: f64,
    /// Most function evaluations (the Jacobian costs one per parameter).
    pub maxfev: usize,
    /// Step length of the forward differences, relative (`sqrt(epsfcn)`).
    pub epsfcn: f64,
    /// Initial step bound, as a multiple of the scaled norm of the start.
    pub factor: f64,
}

impl LmOptions {
    /// `leastsq`'s defaults: `ftol = xtol = 1.49012e-8`, `gtol = 0`,
    /// `epsfcn = machine epsilon`, `factor = 100`, with the given `maxfev`
    /// (`leastsq` turns its default 0 into `200 * (n + 1)`).
    pub fn scipy_leastsq(maxfev: usize) -> Self {
        Self { ftol: 1.49012e-8, xtol: 1.49012e-8, gtol: 0.0, maxfev, epsfcn: EPSMCH, factor: 100.0 }
    }
}

/// What `lmdif` returns: MINPACK's `info` code, the evaluation count and the
/// residuals at the final point (the point itself is written back in place).
#[derive(Clone, Debug, PartialEq)]
pub struct LmReport {
    /// MINPACK's termination code: 0 improper input, 1-4 converged (1 sum of
    /// squares, 2 parameters, 3 both, 4 gradient), 5 `maxfev` reached, 6-8
    /// tolerances too small to improve further, negative: stopped by `fcn`.
    pub info: i32,
    /// Number of calls of the residual function.
    pub nfev: usize,
    /// Residuals at the returned point.
    pub fvec: Vec<f64>,
}

impl LmReport {
    /// True for the codes SciPy accepts (`ier in [1, 2, 3, 4]`).
    pub fn converged(&self) -> bool {
        (1..=4).contains(&self.info)
    }

    /// SciPy's message for this code.
    pub fn message(&self) -> &'static str {
        match self.info {
            0 => "improper input parameters (fewer residuals than parameters?)",
            1 => "both actual and predicted relative reductions in the sum of squares are at most ftol",
            2 => "the relative error between two consecutive iterates is at most xtol",
            3 => "both actual and predicted relative reductions in the sum of squares are at most ftol and the relative error between two consecutive iterates is at most xtol",
            4 => "the cosine of the angle between func(x) and any column of the Jacobian is at most gtol in absolute value",
            5 => "number of calls to function has reached maxfev",
            6 => "ftol is too small: no further reduction in the sum of squares is possible",
            7 => "xtol is too small: no further improvement in the approximate solution is possible",
            8 => "gtol is too small: func(x) is orthogonal to the columns of the Jacobian to machine precision",
            _ => "stopped by the residual function",
        }
    }
}

/// Euclidean norm with MINPACK's overflow- and underflow-safe three sums.
pub fn enorm(x: &[f64]) -> f64 {
    const RDWARF: f64 = 3.834e-20;
    const RGIANT: f64 = 1.304e19;
    let (mut s1, mut s2, mut s3) = (0.0f64, 0.0f64, 0.0f64);
    let (mut x1max, mut x3max) = (0.0f64, 0.0f64);
    let agiant = RGIANT / x.len() as f64;
    for &xi in x {
        let xabs = xi.abs();
        if xabs > RDWARF && xabs < agiant {
            s2 += xabs * xabs;
        } else if xabs <= RDWARF {
            if xabs > x3max {
                s3 = 1.0 + s3 * (x3max / xabs) * (x3max / xabs);
                x3max = xabs;
            } else if xabs != 0.0 {
                s3 += (xabs / x3max) * (xabs / x3max);
            }
        } else if xabs > x1max {
            s1 = 1.0 + s1 * (x1max / xabs) * (x1max / xabs);
            x1max = xabs;
        } else {
            s1 += (xabs / x1max) * (xabs / x1max);
        }
    }
    if s1 != 0.0 {
        x1max * (s1 + (s2 / x1max) / x1max).sqrt()
    } else if s2 != 0.0 {
        if s2 >= x3max {
            (s2 * (1.0 + (x3max / s2) * (x3max * s3))).sqrt()
        } else {
            (x3max * ((s2 / x3max) + (x3max * s3))).sqrt()
        }
    } else {
        x3max * s3.sqrt()
    }
}

/// Forward-difference Jacobian (`fdjac2`) into column-major `fjac` (m x n).
/// Returns false when `fcn` asked to stop.
fn fdjac2<F>(fcn: &mut F, m: usize, x: &mut [f64], fvec: &[f64], fjac: &mut [f64], epsfcn: f64, wa: &mut [f64]) -> bool
where
    F: FnMut(&[f64], &mut [f64]) -> bool,
{
    let eps = epsfcn.max(EPSMCH).sqrt();
    for j in 0..x.len() {
        let temp = x[j];
        let mut h = eps * temp.abs();
        if h == 0.0 {
            h = eps;
        }
        x[j] = temp + h;
        let ok = fcn(x, wa);
        x[j] = temp;
        if !ok {
            return false;
        }
        for i in 0..m {
            fjac[i + j * m] = (wa[i] - fvec[i]) / h;
        }
    }
    true
}

/// Householder QR with column pivoting (`qrfac` with `pivot = .true.`).
/// On return the upper triangle of `a` holds R without its diagonal, which is
/// in `rdiag`; `acnorm` holds the initial column norms; `ipvt` the permutation.
fn qrfac(m: usize, n: usize, a: &mut [f64], ipvt: &mut [usize], rdiag: &mut [f64], acnorm: &mut [f64], wa: &mut [f64]) {
    for j in 0..n {
        acnorm[j] = enorm(&a[j * m..j * m + m]);
        rdiag[j] = acnorm[j];
        wa[j] = rdiag[j];
        ipvt[j] = j;
    }
    for j in 0..m.min(n) {
        // Bring the column of largest norm into the pivot position.
        let mut kmax = j;
        for k in j..n {
            if rdiag[k] > rdiag[kmax] {
                kmax = k;
            }
        }
        if kmax != j {
            for i in 0..m {
                a.swap(i + j * m, i + kmax * m);
            }
            rdiag[kmax] = rdiag[j];
            wa[kmax] = wa[j];
            ipvt.swap(j, kmax);
        }
        // Householder transformation reducing column j to a multiple of e_j.
        let mut ajnorm = enorm(&a[j + j * m..m + j * m]);
        if ajnorm != 0.0 {
            if a[j + j * m] < 0.0 {
                ajnorm = -ajnorm;
            }
            for i in j..m {
                a[i + j * m] /= ajnorm;
            }
            a[j + j * m] += 1.0;
            // Apply it to the remaining columns and update the norms.
            for k in j + 1..n {
                let mut sum = 0.0;
                for i in j..m {
                    sum += a[i + j * m] * a[i + k * m];
                }
                let temp = sum / a[j + j * m];
                for i in j..m {
                    a[i + k * m] -= temp * a[i + j * m];
                }
                if rdiag[k] != 0.0 {
                    let temp = a[j + k * m] / rdiag[k];
                    rdiag[k] *= (1.0 - temp * temp).max(0.0).sqrt();
                    if 0.05 * (rdiag[k] / wa[k]) * (rdiag[k] / wa[k]) <= EPSMCH {
                        rdiag[k] = enorm(&a[j + 1 + k * m..m + k * m]);
                        wa[k] = rdiag[k];
                    }
                }
            }
        }
        rdiag[j] = -ajnorm;
    }
}

/// Solves `R z = Q^T b` augmented by the diagonal `diag` in the least-squares
/// sense with Givens rotations (`qrsolv`). `r` is column-major with leading
/// dimension `ldr`; its strict lower triangle receives S transposed.
#[allow(clippy::too_many_arguments)]
fn qrsolv(
    n: usize,
    r: &mut [f64],
    ldr: usize,
    ipvt: &[usize],
    diag: &[f64],
    qtb: &[f64],
    x: &mut [f64],
    sdiag: &mut [f64],
    wa: &mut [f64],
) {
    for j in 0..n {
        for i in j..n {
            r[i + j * ldr] = r[j + i * ldr];
        }
        x[j] = r[j + j * ldr];
        wa[j] = qtb[j];
    }
    for j in 0..n {
        let l = ipvt[j];
        if diag[l] != 0.0 {
            for s in sdiag.iter_mut().take(n).skip(j) {
                *s = 0.0;
            }
            sdiag[j] = diag[l];
            let mut qtbpj = 0.0;
            for k in j..n {
                if sdiag[k] == 0.0 {
                    continue;
                }
                let rkk = r[k + k * ldr];
                let (sin, cos);
                if rkk.abs() < sdiag[k].abs() {
                    let cotan = rkk / sdiag[k];
                    sin = 0.5 / (0.25 + 0.25 * cotan * cotan).sqrt();
                    cos = sin * cotan;
                } else {
                    let tan = sdiag[k] / rkk;
                    cos = 0.5 / (0.25 + 0.25 * tan * tan).sqrt();
                    sin = cos * tan;
                }
                r[k + k * ldr] = cos * rkk + sin * sdiag[k];
                let temp = cos * wa[k] + sin * qtbpj;
                qtbpj = -sin * wa[k] + cos * qtbpj;
                wa[k] = temp;
                for i in k + 1..n {
                    let temp = cos * r[i + k * ldr] + sin * sdiag[i];
                    sdiag[i] = -sin * r[i + k * ldr] + cos * sdiag[i];
                    r[i + k * ldr] = temp;
                }
            }
        }
        sdiag[j] = r[j + j * ldr];
        r[j + j * ldr] = x[j];
    }
    let mut nsing = n;
    for j in 0..n {
        if sdiag[j] == 0.0 && nsing == n {
            nsing = j;
        }
        if nsing < n {
            wa[j] = 0.0;
        }
    }
    for j in (0..nsing).rev() {
        let mut sum = 0.0;
        for i in j + 1..nsing {
            sum += r[i + j * ldr] * wa[i];
        }
        wa[j] = (wa[j] - sum) / sdiag[j];
    }
    for j in 0..n {
        x[ipvt[j]] = wa[j];
    }
}

/// Work arrays of [`lmpar`], of length n each.
struct LmparWork<'a> {
    sdiag: &'a mut [f64],
    wa1: &'a mut [f64],
    wa2: &'a mut [f64],
}

/// Determines the Levenberg-Marquardt parameter `par` so that the step `x`
/// satisfies `|| diag x || ~ delta` (`lmpar`); returns the new `par`.
#[allow(clippy::too_many_arguments)]
fn lmpar(
    n: usize,
    r: &mut [f64],
    ldr: usize,
    ipvt: &[usize],
    diag: &[f64],
    qtb: &[f64],
    delta: f64,
    mut par: f64,
    x: &mut [f64],
    w: LmparWork<'_>,
) -> f64 {
    let LmparWork { sdiag, wa1, wa2 } = w;
    // Gauss-Newton direction (least squares solution if rank deficient).
    let mut nsing = n;
    for j in 0..n {
        wa1[j] = qtb[j];
        if r[j + j * ldr] == 0.0 && nsing == n {
            nsing = j;
        }
        if nsing < n {
            wa1[j] = 0.0;
        }
    }
    for j in (0..nsing).rev() {
        wa1[j] /= r[j + j * ldr];
        let temp = wa1[j];
        for i in 0..j {
            wa1[i] -= r[i + j * ldr] * temp;
        }
    }
    for j in 0..n {
        x[ipvt[j]] = wa1[j];
    }
    let mut iter = 0;
    for j in 0..n {
        wa2[j] = diag[j] * x[j];
    }
    let mut dxnorm = enorm(&wa2[..n]);
    let mut fp = dxnorm - delta;
    if fp > 0.1 * delta {
        // Lower bound parl from the Newton step (zero when rank deficient).
        let mut parl = 0.0;
        if nsing >= n {
            for j in 0..n {
                let l = ipvt[j];
                wa1[j] = diag[l] * (wa2[l] / dxnorm);
            }
            for j in 0..n {
                let mut sum = 0.0;
                for i in 0..j {
                    sum += r[i + j * ldr] * wa1[i];
                }
                wa1[j] = (wa1[j] - sum) / r[j + j * ldr];
            }
            let temp = enorm(&wa1[..n]);
            parl = ((fp / delta) / temp) / temp;
        }
        // Upper bound paru.
        for j in 0..n {
            let mut sum = 0.0;
            for i in 0..=j {
                sum += r[i + j * ldr] * qtb[i];
            }
            wa1[j] = sum / diag[ipvt[j]];
        }
        let gnorm = enorm(&wa1[..n]);
        let mut paru = gnorm / delta;
        if paru == 0.0 {
            paru = DWARF / delta.min(0.1);
        }
        par = par.max(parl);
        par = par.min(paru);
        if par == 0.0 {
            par = gnorm / dxnorm;
        }
        loop {
            iter += 1;
            if par == 0.0 {
                par = DWARF.max(0.001 * paru);
            }
            let temp = par.sqrt();
            for j in 0..n {
                wa1[j] = temp * diag[j];
            }
            qrsolv(n, r, ldr, ipvt, wa1, qtb, x, sdiag, wa2);
            for j in 0..n {
                wa2[j] = diag[j] * x[j];
            }
            dxnorm = enorm(&wa2[..n]);
            let temp = fp;
            fp = dxnorm - delta;
            if fp.abs() <= 0.1 * delta || (parl == 0.0 && fp <= temp && temp < 0.0) || iter == 10 {
                break;
            }
            // Newton correction.
            for j in 0..n {
                let l = ipvt[j];
                wa1[j] = diag[l] * (wa2[l] / dxnorm);
            }
            for j in 0..n {
                wa1[j] /= sdiag[j];
                let temp = wa1[j];
                for i in j + 1..n {
                    wa1[i] -= r[i + j * ldr] * temp;
                }
            }
            let temp = enorm(&wa1[..n]);
            let parc = ((fp / delta) / temp) / temp;
            if fp > 0.0 {
                parl = parl.max(par);
            }
            if fp < 0.0 {
                paru = paru.min(par);
            }
            par = parl.max(par + parc);
        }
    }
    if iter == 0 {
        par = 0.0;
    }
    par
}

/// Minimises the sum of squares of the `m` residuals that `fcn(x, fvec)`
/// writes, starting from `x` (updated in place), exactly as MINPACK's `lmdif`
/// with `mode = 1` (automatic scaling) and no printing. `fcn` returns false to
/// stop the run (reported as `info = -1`).
pub fn lmdif<F>(mut fcn: F, x: &mut [f64], m: usize, opts: &LmOptions) -> LmReport
where
    F: FnMut(&[f64], &mut [f64]) -> bool,
{
    const P1: f64 = 0.1;
    const P5: f64 = 0.5;
    const P25: f64 = 0.25;
    const P75: f64 = 0.75;
    const P0001: f64 = 1.0e-4;
    let n = x.len();
    let mut fvec = vec![0.0; m];
    if n == 0
        || m < n
        || opts.ftol < 0.0
        || opts.xtol < 0.0
        || opts.gtol < 0.0
        || opts.maxfev == 0
        || opts.factor <= 0.0
    {
        return LmReport { info: 0, nfev: 0, fvec };
    }
    let mut fjac = vec![0.0; m * n];
    let mut diag = vec![0.0; n];
    let mut qtf = vec![0.0; n];
    let mut ipvt = vec![0usize; n];
    let (mut wa1, mut wa2, mut wa3) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut wa4 = vec![0.0; m];

    if !fcn(x, &mut fvec) {
        return LmReport { info: -1, nfev: 1, fvec };
    }
    let mut nfev = 1usize;
    let mut fnorm = enorm(&fvec);
    let mut par = 0.0;
    let mut iter = 1usize;
    let mut delta = 0.0;
    let mut xnorm = 0.0;
    let mut info = 0;

    // Outer loop (label 30).
    'outer: loop {
        if !fdjac2(&mut fcn, m, x, &fvec, &mut fjac, opts.epsfcn, &mut wa4) {
            info = -1;
            break 'outer;
        }
        nfev += n;
        qrfac(m, n, &mut fjac, &mut ipvt, &mut wa1, &mut wa2, &mut wa3);
        if iter == 1 {
            for j in 0..n {
                diag[j] = if wa2[j] == 0.0 { 1.0 } else { wa2[j] };
            }
            for j in 0..n {
                wa3[j] = diag[j] * x[j];
            }
            xnorm = enorm(&wa3);
            delta = opts.factor * xnorm;
            if delta == 0.0 {
                delta = opts.factor;
            }
        }
        // Q^T fvec; its first n components into qtf.
        wa4.copy_from_slice(&fvec);
        for j in 0..n {
            let ajj = fjac[j + j * m];
            if ajj != 0.0 {
                let mut sum = 0.0;
                for i in j..m {
                    sum += fjac[i + j * m] * wa4[i];
                }
                let temp = -sum / ajj;
                for i in j..m {
                    wa4[i] += fjac[i + j * m] * temp;
                }
            }
            fjac[j + j * m] = wa1[j];
            qtf[j] = wa4[j];
        }
        // Norm of the scaled gradient.
        let mut gnorm = 0.0f64;
        if fnorm != 0.0 {
            for j in 0..n {
                let l = ipvt[j];
                if wa2[l] != 0.0 {
                    let mut sum = 0.0;
                    for i in 0..=j {
                        sum += fjac[i + j * m] * (qtf[i] / fnorm);
                    }
                    gnorm = gnorm.max((sum / wa2[l]).abs());
                }
            }
        }
        if gnorm <= opts.gtol {
            info = 4;
            break 'outer;
        }
        for j in 0..n {
            diag[j] = diag[j].max(wa2[j]);
        }
        // Inner loop (label 200).
        loop {
            par = lmpar(
                n,
                &mut fjac,
                m,
                &ipvt,
                &diag,
                &qtf,
                delta,
                par,
                &mut wa1,
                LmparWork { sdiag: &mut wa2, wa1: &mut wa3, wa2: &mut wa4[..n] },
            );
            for j in 0..n {
                wa1[j] = -wa1[j];
                wa2[j] = x[j] + wa1[j];
                wa3[j] = diag[j] * wa1[j];
            }
            let pnorm = enorm(&wa3);
            if iter == 1 {
                delta = delta.min(pnorm);
            }
            if !fcn(&wa2, &mut wa4) {
                nfev += 1;
                info = -1;
                break 'outer;
            }
            nfev += 1;
            let fnorm1 = enorm(&wa4);
            let mut actred = -1.0;
            if P1 * fnorm1 < fnorm {
                actred = 1.0 - (fnorm1 / fnorm) * (fnorm1 / fnorm);
            }
            // Scaled predicted reduction and directional derivative.
            for j in 0..n {
                wa3[j] = 0.0;
                let temp = wa1[ipvt[j]];
                for i in 0..=j {
                    wa3[i] += fjac[i + j * m] * temp;
                }
            }
            let temp1 = enorm(&wa3) / fnorm;
            let temp2 = (par.sqrt() * pnorm) / fnorm;
            let prered = temp1 * temp1 + temp2 * temp2 / P5;
            let dirder = -(temp1 * temp1 + temp2 * temp2);
            let ratio = if prered != 0.0 { actred / prered } else { 0.0 };
            // Update the step bound.
            if ratio <= P25 {
                let mut temp = if actred >= 0.0 { P5 } else { P5 * dirder / (dirder + P5 * actred) };
                if P1 * fnorm1 >= fnorm || temp < P1 {
                    temp = P1;
                }
                delta = temp * delta.min(pnorm / P1);
                par /= temp;
            } else if par == 0.0 || ratio >= P75 {
                delta = pnorm / P5;
                par *= P5;
            }
            // Successful iteration: accept x + p.
            if ratio >= P0001 {
                for j in 0..n {
                    x[j] = wa2[j];
                    wa2[j] = diag[j] * x[j];
                }
                fvec.copy_from_slice(&wa4);
                xnorm = enorm(&wa2);
                fnorm = fnorm1;
                iter += 1;
            }
            // Convergence tests.
            let small_reduction = actred.abs() <= opts.ftol && prered <= opts.ftol && P5 * ratio <= 1.0;
            if small_reduction {
                info = 1;
            }
            if delta <= opts.xtol * xnorm {
                info = 2;
            }
            if small_reduction && info == 2 {
                info = 3;
            }
            if info != 0 {
                break 'outer;
            }
            // Termination and stringent tolerances.
            if nfev >= opts.maxfev {
                info = 5;
            }
            if actred.abs() <= EPSMCH && prered <= EPSMCH && P5 * ratio <= 1.0 {
                info = 6;
            }
            if delta <= EPSMCH * xnorm {
                info = 7;
            }
            if gnorm <= EPSMCH {
                info = 8;
            }
            if info != 0 {
                break 'outer;
            }
            if ratio >= P0001 {
                break;
            }
        }
    }
    LmReport { info, nfev, fvec }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enorm_matches_plain_norm_in_range() {
        let v = [3.0, 4.0, 12.0];
        assert_eq!(enorm(&v), 13.0);
        assert_eq!(enorm(&[]), 0.0);
        let tiny = [1e-30, 1e-30];
        assert!((enorm(&tiny) - 2f64.sqrt() * 1e-30).abs() < 1e-44);
        let big = [1e200, 1e200];
        assert!((enorm(&big) / (2f64.sqrt() * 1e200) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn fits_a_line_exactly() {
        // Residuals of y = 2x + 1: the minimum is exact, so lmdif converges.
        let xs = [0.0, 1.0, 2.0, 3.0, 4.0];
        let mut p = [0.0, 0.0];
        let r = lmdif(
            |p, f| {
                for (fi, &x) in f.iter_mut().zip(&xs) {
                    *fi = p[0] * x + p[1] - (2.0 * x + 1.0);
                }
                true
            },
            &mut p,
            xs.len(),
            &LmOptions::scipy_leastsq(600),
        );
        assert!(r.converged(), "info {}", r.info);
        assert!((p[0] - 2.0).abs() < 1e-10 && (p[1] - 1.0).abs() < 1e-10, "{p:?}");
    }

    #[test]
    fn improper_input_is_info_zero() {
        let mut p = [0.0, 0.0, 0.0];
        let r = lmdif(|_, _| true, &mut p, 2, &LmOptions::scipy_leastsq(800));
        assert_eq!(r.info, 0);
    }
}
