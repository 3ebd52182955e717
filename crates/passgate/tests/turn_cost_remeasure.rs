//! Admission's turn-cost floor is measured again while no caller has a
//! turn, on the real binary: a node started while its machine was busy
//! (busy loops in this process) measures a floor several times too high;
//! once the machine is idle the floor measured again takes its place in
//! admission and /metrics, and a measure on a busy machine afterwards does
//! not raise it. A test binary of its own: the busy loops would slow every
//! other test running beside them.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::{logged_number, logged_numbers, Agent};

/// Busy loops in this process, twice as many as the cores: they hold the
/// recognizer's workers (nice 5) back, so a turn measured meanwhile costs
/// several times what it costs on an idle machine.
struct Busy {
    stop: Arc<AtomicBool>,
    loops: Vec<JoinHandle<()>>,
}

impl Busy {
    fn start() -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let loops = (0..2 * cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Busy { stop, loops }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for busy_loop in self.loops {
            busy_loop.join().unwrap();
        }
    }
}

const AGAIN: &str = "recognizer turn cost measured again";

/// Waits (at most 40 s) until the measures logged again satisfy `done`,
/// given each one's (turn_ms, floor_ms).
fn wait_for(agent: &Agent, what: &str, done: impl Fn(&[(f64, f64)]) -> bool) -> Vec<(f64, f64)> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let log = agent.log_text();
        let again: Vec<(f64, f64)> = logged_numbers(&log, AGAIN, " turn_ms=")
            .into_iter()
            .zip(logged_numbers(&log, AGAIN, " floor_ms="))
            .collect();
        if done(&again) {
            return again;
        }
        assert!(Instant::now() < deadline, "{what}: {again:?}\n{log}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_floor_measured_while_the_machine_was_busy_is_measured_again_once_it_is_not() {
    let busy = Busy::start();
    let agent = Agent::start(&[
        ("PASSGATE_ASR__WORKERS", "2"),
        ("PASSGATE_ASR__ADMIT_MIN_TURN_COST_MS", "0"),
        ("PASSGATE_ASR__ADMIT_REMEASURE_SECS", "2"),
    ]);
    busy.stop();
    let log = agent.log_text();
    let busy_floor = logged_number(&log, "recognizer turn cost measured", " floor_ms=")
        .unwrap_or_else(|| panic!("{log}"));

    // Measured again every 2 s while no caller has a turn: the idle
    // machine's floor replaces the busy start's, in admission and /metrics.
    let idle = wait_for(&agent, "a floor measured on the idle machine", |again| {
        again.len() >= 2 && again.iter().any(|&(_, floor)| floor < busy_floor * 0.7)
    });
    let gauge = agent.metric("passgate_admission_turn_cost_floor_seconds") * 1000.0;
    assert!(
        idle.iter().any(|&(_, floor)| (floor - gauge).abs() < 0.1),
        "the gauge ({gauge} ms) is none of the floors measured again {idle:?}"
    );
    let least = idle
        .iter()
        .map(|&(_, floor)| floor)
        .fold(f64::INFINITY, f64::min);

    // The machine busy again: a turn measured now costs far more, and the
    // floor stays the cheapest measured times the factor.
    let busy = Busy::start();
    let seen = idle.len();
    let again = wait_for(&agent, "a turn measured on the busy machine", |again| {
        again[seen.min(again.len())..]
            .iter()
            .any(|&(turn, _)| turn * 1.75 > least * 2.0)
    });
    busy.stop();
    let gauge = agent.metric("passgate_admission_turn_cost_floor_seconds") * 1000.0;
    eprintln!("floor at a busy start {busy_floor} ms; measured again (turn, floor) {again:?}");
    for pair in again.windows(2) {
        assert!(pair[1].1 <= pair[0].1, "the floor rose: {again:?}");
    }
    assert!(
        gauge <= least + 0.1,
        "the gauge ({gauge} ms) rose above {least} ms"
    );
}
