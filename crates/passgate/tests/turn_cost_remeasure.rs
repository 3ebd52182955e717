//! Admission's turn-cost floor is measured again while no caller has a
//! turn, on the real binary: a node started while its machine was busy
//! (busy loops in this process) measures a floor several times too high,
//! and once the machine is idle the floor measured again takes its place
//! in admission and /metrics. A test binary of its own: the busy loops
//! would slow every other test running beside them.

mod support;

use std::time::{Duration, Instant};

use support::{logged_number, logged_numbers, Agent};

#[test]
fn a_floor_measured_while_the_machine_was_busy_is_measured_again_once_it_is_not() {
    // Busy loops in this process, twice as many as the cores, hold the
    // recognizer's workers (nice 5) back while the node starts: the turn it
    // measures then costs several times what it costs on an idle machine.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spinners: Vec<_> = (0..2 * cores)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let agent = Agent::start(&[
        ("PASSGATE_ASR__WORKERS", "2"),
        ("PASSGATE_ASR__ADMIT_MIN_TURN_COST_MS", "0"),
        ("PASSGATE_ASR__ADMIT_REMEASURE_SECS", "2"),
    ]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().unwrap();
    }
    let log = agent.log_text();
    let busy = logged_number(&log, "recognizer turn cost measured", " floor_ms=")
        .unwrap_or_else(|| panic!("{log}"));
    // Measured again every 2 s while no caller has a turn; each measure
    // takes the last one's place in admission's floor, shown in /metrics.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let gauge = agent.metric("passgate_admission_turn_cost_floor_seconds") * 1000.0;
        let log = agent.log_text();
        let again = logged_numbers(&log, "recognizer turn cost measured again", " floor_ms=");
        let idle = again.iter().copied().fold(f64::INFINITY, f64::min);
        if again.len() >= 2 && idle < busy * 0.7 {
            eprintln!("floor at a busy start {busy} ms; measured again {again:?}");
            assert!(
                again.iter().any(|floor| (floor - gauge).abs() < 0.1),
                "the gauge ({gauge} ms) is none of the floors measured again {again:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "busy start {busy} ms, measured again {again:?}\n{log}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
