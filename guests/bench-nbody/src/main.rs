//! `bench-nbody`: floating-point workload for scripts/bench.sh. The classic five-body
//! (Sun and the four gas giants) simulation with a symplectic step of dt = 0.01 (the layout of
//! the Computer Language Benchmarks Game "n-body" problem), `STEPS` steps (argv[1], default
//! 200000), timed with the WASI monotonic clock.
//!
//! stdout: the total energy before and after, with 9 decimals (identical on every runtime, so
//! the bench script can compare them). stderr: `result name=nbody value=<ms> unit=ms`.

// Indexing by component keeps the vector arithmetic readable (and lets b[i], b[j] be split).
#![allow(clippy::needless_range_loop)]

use std::time::Instant;

const PI: f64 = std::f64::consts::PI;
const SOLAR_MASS: f64 = 4.0 * PI * PI;
const DAYS_PER_YEAR: f64 = 365.24;

/// One body: position, velocity (AU, AU/day * DAYS_PER_YEAR) and mass (solar masses).
#[derive(Clone, Copy, Debug)]
struct Body {
    pos: [f64; 3],
    vel: [f64; 3],
    mass: f64,
}

/// The initial state: Sun, Jupiter, Saturn, Uranus, Neptune.
fn bodies() -> [Body; 5] {
    let planet = |pos: [f64; 3], vel: [f64; 3], mass: f64| Body {
        pos,
        vel: vel.map(|v| v * DAYS_PER_YEAR),
        mass: mass * SOLAR_MASS,
    };
    let mut b = [
        Body {
            pos: [0.0; 3],
            vel: [0.0; 3],
            mass: SOLAR_MASS,
        },
        planet(
            [
                4.841_431_442_464_72,
                -1.160_320_044_027_428_4,
                -0.103_622_044_471_123_1,
            ],
            [
                1.660_076_642_744_037e-3,
                7.699_011_184_197_404e-3,
                -6.904_600_169_720_63e-5,
            ],
            9.547_919_384_243_266e-4,
        ),
        planet(
            [
                8.343_366_718_244_58,
                4.124_798_564_124_305,
                -4.035_234_171_143_214e-1,
            ],
            [
                -2.767_425_107_268_624e-3,
                4.998_528_012_349_172e-3,
                2.304_172_975_737_639_3e-5,
            ],
            2.858_859_806_661_308e-4,
        ),
        planet(
            [
                1.289_436_956_213_913_1e1,
                -1.511_115_140_169_863_1e1,
                -2.233_075_788_926_557_3e-1,
            ],
            [
                2.964_601_375_647_616e-3,
                2.378_471_739_594_809_5e-3,
                -2.965_895_685_402_375_6e-5,
            ],
            4.366_244_043_351_563e-5,
        ),
        planet(
            [
                1.537_969_711_485_091_1e1,
                -2.591_931_460_998_796_4e1,
                1.792_587_729_503_711_8e-1,
            ],
            [
                2.680_677_724_903_893_2e-3,
                1.628_241_700_382_423e-3,
                -9.515_922_545_197_159e-5,
            ],
            5.151_389_020_466_114_5e-5,
        ),
    ];
    // Offset the Sun's momentum so the system's total momentum is zero.
    let mut p = [0.0; 3];
    for body in &b {
        for k in 0..3 {
            p[k] += body.vel[k] * body.mass;
        }
    }
    for k in 0..3 {
        b[0].vel[k] = -p[k] / SOLAR_MASS;
    }
    b
}

/// Total (kinetic + potential) energy.
fn energy(b: &[Body; 5]) -> f64 {
    let mut e = 0.0;
    for i in 0..b.len() {
        let v = b[i].vel;
        e += 0.5 * b[i].mass * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        for j in i + 1..b.len() {
            let d: [f64; 3] = std::array::from_fn(|k| b[i].pos[k] - b[j].pos[k]);
            e -= b[i].mass * b[j].mass / (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        }
    }
    e
}

/// Advances the system by `steps` steps of `dt`.
fn advance(b: &mut [Body; 5], steps: u64, dt: f64) {
    for _ in 0..steps {
        for i in 0..b.len() {
            for j in i + 1..b.len() {
                let d: [f64; 3] = std::array::from_fn(|k| b[i].pos[k] - b[j].pos[k]);
                let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                let mag = dt / (d2 * d2.sqrt());
                let (mi, mj) = (b[i].mass * mag, b[j].mass * mag);
                for k in 0..3 {
                    b[i].vel[k] -= d[k] * mj;
                    b[j].vel[k] += d[k] * mi;
                }
            }
        }
        for body in b.iter_mut() {
            for k in 0..3 {
                body.pos[k] += dt * body.vel[k];
            }
        }
    }
}

fn main() {
    let steps: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mut b = bodies();
    println!("{:.9}", energy(&b));
    let start = Instant::now();
    advance(&mut b, steps, 0.01);
    let secs = start.elapsed().as_secs_f64();
    println!("{:.9}", energy(&b));
    eprintln!("result name=nbody value={:.3} unit=ms", secs * 1e3);
    eprintln!(
        "result name=nbody_rate value={:.1} unit=steps/s",
        steps as f64 / secs
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Benchmarks Game's published output for 1000 steps.
    #[test]
    fn thousand_steps_match_reference_output() {
        let mut b = bodies();
        assert_eq!(format!("{:.9}", energy(&b)), "-0.169075164");
        advance(&mut b, 1000, 0.01);
        assert_eq!(format!("{:.9}", energy(&b)), "-0.169087605");
    }
}
