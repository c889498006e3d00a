//! Logistic regression fitted by Newton's method with a ridge penalty: a handful of features and
//! some tens of thousands of examples, so each step is one pass over the examples and a small
//! linear solve. Deterministic: the same examples in the same order give the same weights, bit
//! for bit (sequential sums in `f64`, a fixed number of steps).

use super::features::FEATURES;

/// Ridge penalty on every weight but the intercept (in units of examples): keeps a feature the
/// examples never exercise (a state no generated row reaches) at zero instead of adrift.
const RIDGE: f64 = 1.0;
/// Newton steps; the fit converges in well under this.
const STEPS: usize = 25;

pub fn sigmoid(z: f32) -> f32 {
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
            let p = 1.0 / (1.0 + (-z).exp());
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
            if a > 0 {
                grad[a] += RIDGE * w[a];
                hess[a][a] += RIDGE;
            } else {
                hess[a][a] += 1e-6;
            }
        }
        let step = solve(hess, grad);
        let mut moved = 0f64;
        for a in 0..FEATURES {
            w[a] -= step[a];
            moved = moved.max(step[a].abs());
        }
        if moved < 1e-7 {
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
    use super::*;

    #[test]
    fn recovers_a_known_rule_and_is_calibrated() {
        // Label 1 with probability sigmoid(4 * text - 2): the fit should find about (−2, 4)
        // and predict shares that match the labels'.
        let mut examples = Vec::new();
        let mut labels = Vec::new();
        let mut state = 1u64;
        for i in 0..20_000 {
            let text = (i % 100) as f32 / 100.0;
            let mut x = [0f32; FEATURES];
            x[0] = 1.0;
            x[1] = text;
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f32 / (1u64 << 53) as f32;
            examples.push(x);
            labels.push(u < sigmoid(4.0 * text - 2.0));
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
    fn one_sided_examples_give_finite_weights() {
        let mut x = [0f32; FEATURES];
        x[0] = 1.0;
        x[1] = 0.9;
        let w = fit(&[x; 10], &[true; 10]);
        assert!(w.iter().all(|v| v.is_finite()));
        let z: f32 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
        assert!(sigmoid(z) > 0.9);
    }
}
