//! Logistic regression fitted by Newton's method with a ridge penalty: a handful of features and
//! some tens of thousands of examples, so each step is one pass over the examples and a small
//! linear solve. Deterministic: the same examples in the same order give the same weights, bit
//! for bit on one platform (sequential sums in `f64`; at most `STEPS` steps, stopping early
//! when a step moves no weight by more than `CONVERGED`). Another platform's `exp` may differ
//! in the last bits.

use super::features::FEATURES;

/// Ridge penalty on every weight but the intercept (in units of examples): keeps a feature the
/// examples never exercise (a state no generated row reaches) at zero instead of adrift.
const RIDGE: f64 = 1.0;
/// A much lighter one on the intercept: enough to keep it finite when every example has the
/// same label, too light to move it otherwise.
const INTERCEPT_RIDGE: f64 = 0.01;
/// Newton steps at most; the fit converges in well under this.
const STEPS: usize = 25;
/// A step that moves no weight by more than this ends the fit.
const CONVERGED: f64 = 1e-7;

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The weights that best predict `labels` from `examples`.
pub fn fit(examples: &[[f32; FEATURES]], labels: &[bool]) -> [f32; FEATURES] {
    let mut w = [0f64; FEATURES];
    for _ in 0..STEPS {
        let mut grad = [0f64; FEATURES];
        let mut hess = [[0f64; FEATURES]; FEATURES];
        for (x, &y) in examples.iter().zip(labels) {
            let z: f64 = x.iter().zip(&w).map(|(a, b)| f64::from(*a) * b).sum();
            let p = sigmoid(z);
            let r = p - if y { 1.0 } else { 0.0 };
            let s = (p * (1.0 - p)).max(1e-9);
            for a in 0..FEATURES {
                let xa = f64::from(x[a]);
                if xa == 0.0 {
                    continue;
                }
                grad[a] += r * xa;
                for b in 0..=a {
                    hess[a][b] += s * xa * f64::from(x[b]);
                }
            }
        }
        // Only the lower triangle is filled: the solve reads no other.
        for a in 0..FEATURES {
            let ridge = if a == 0 { INTERCEPT_RIDGE } else { RIDGE };
            grad[a] += ridge * w[a];
            hess[a][a] += ridge;
        }
        let step = solve(hess, grad);
        let mut moved = 0f64;
        for a in 0..FEATURES {
            w[a] -= step[a];
            moved = moved.max(step[a].abs());
        }
        if moved < CONVERGED {
            break;
        }
    }
    w.map(|v| v as f32)
}

/// Solves `m x = v` for a symmetric positive definite `m` given by its lower triangle
/// (Cholesky, in place).
fn solve(mut m: [[f64; FEATURES]; FEATURES], v: [f64; FEATURES]) -> [f64; FEATURES] {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    for j in 0..FEATURES {
        let d = (m[j][j] - dot(&m[j][..j], &m[j][..j])).max(1e-12).sqrt();
        m[j][j] = d;
        for i in j + 1..FEATURES {
            m[i][j] = (m[i][j] - dot(&m[i][..j], &m[j][..j])) / d;
        }
    }
    let mut y = [0f64; FEATURES];
    for i in 0..FEATURES {
        y[i] = (v[i] - dot(&m[i][..i], &y[..i])) / m[i][i];
    }
    let mut x = [0f64; FEATURES];
    for i in (0..FEATURES).rev() {
        let later: f64 = (i + 1..FEATURES).map(|k| m[k][i] * x[k]).sum();
        x[i] = (y[i] - later) / m[i][i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::super::perturb::Rng;
    use super::*;

    #[test]
    fn recovers_a_known_rule_and_is_calibrated() {
        // Label 1 with probability sigmoid(4 * text - 2): the fit should find about (-2, 4).
        let mut rng = Rng::new(1);
        let mut examples = Vec::new();
        let mut labels = Vec::new();
        for i in 0..20_000 {
            let text = (i % 100) as f32 / 100.0;
            let mut x = [0f32; FEATURES];
            x[0] = 1.0;
            x[1] = text;
            examples.push(x);
            labels.push(rng.chance(sigmoid(4.0 * f64::from(text) - 2.0)));
        }
        let w = fit(&examples, &labels);
        assert!(
            (w[0] + 2.0).abs() < 0.2 && (w[1] - 4.0).abs() < 0.3,
            "{w:?}"
        );
        // Unused features stay at zero.
        assert!(w[2..].iter().all(|v| v.abs() < 1e-6), "{w:?}");
        assert_eq!(fit(&examples, &labels), w, "deterministic");
    }

    #[test]
    fn one_sided_examples_give_a_bounded_fit() {
        let mut x = [0f32; FEATURES];
        x[0] = 1.0;
        x[1] = 0.9;
        let w = fit(&[x; 100], &[true; 100]);
        let z: f64 = x.iter().zip(&w).map(|(a, b)| f64::from(a * b)).sum();
        // Sure, but not certain: the intercept did not run away.
        assert!(sigmoid(z) > 0.99 && w[0] < 15.0, "{w:?}");
    }
}
