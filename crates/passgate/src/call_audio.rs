//! A recording heard as a caller's audio: 8 kHz PCM sent as 20 ms G.711
//! µ-law RTP packets by the media crate's pacer, some of them lost on the
//! way, and received by the media crate's receive path (jitter buffer,
//! decode, concealment, resampling) exactly as a call's packets are. The
//! frames it hands out are what a call's recognizer gets, so whatever the
//! receive path does with lost packets is what gets measured.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::{MediaEvent, Pacer, PacerConfig, ReceiverConfig, RtpReceiver, G711};
use rand::{Rng, SeedableRng};

/// The caller's packets: G.711 µ-law with telephone-event (what most trunks
/// negotiate), so in-band DTMF detection is off as in such a call.
const CODEC: G711 = G711::Ulaw;
const TELEPHONE_EVENT_PT: u8 = 101;
/// How long the receiver is driven after the last packet was sent, so a
/// jitter buffer holding packets behind a gap releases them.
const DRAIN: Duration = Duration::from_millis(500);

/// How many of the packets are lost, and which.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loss {
    /// Each packet is dropped independently with this probability, 0-100 %.
    pub percent: f64,
    /// Seeds the choice of dropped packets, so a run can be repeated.
    pub seed: u64,
}

/// What came out of the receive path.
pub struct Heard {
    /// 20 ms frames at `output_rate`, in order.
    pub frames: Vec<Vec<i16>>,
    pub sent: usize,
    pub dropped: usize,
}

/// Sends `pcm_8k` (8 kHz mono) through the network path with `loss` and
/// returns the frames the receiver produced at `output_rate`.
pub fn through_a_call(pcm_8k: &[i16], loss: Loss, output_rate: u32) -> anyhow::Result<Heard> {
    let start = Instant::now();
    let mut pacer = Pacer::new(PacerConfig::g711(CODEC, 0x5EED_CA11, 1000, 160_000));
    pacer.enqueue(start, pcm_8k.to_vec());
    let mut receiver = RtpReceiver::new(ReceiverConfig::g711(
        CODEC,
        Some(TELEPHONE_EVENT_PT),
        output_rate,
    ))?;
    receiver.set_listening(true);
    let caller: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let mut rng = rand::rngs::StdRng::seed_from_u64(loss.seed);
    let probability = (loss.percent / 100.0).clamp(0.0, 1.0);
    let mut heard = Heard {
        frames: Vec::new(),
        sent: 0,
        dropped: 0,
    };
    let mut last_due = start;
    while let Some(due) = pacer.poll_timeout() {
        pacer.handle_timeout(due);
        while let Some(out) = pacer.poll_packet() {
            drive_until(&mut receiver, out.due);
            heard.sent += 1;
            last_due = out.due;
            if rng.random_bool(probability) {
                heard.dropped += 1;
                continue;
            }
            let datagram = out.packet.to_bytes()?;
            receiver.handle_datagram(out.due, caller, &datagram);
            collect(&mut receiver, &mut heard.frames);
        }
    }
    drive_until(&mut receiver, last_due + DRAIN);
    collect(&mut receiver, &mut heard.frames);
    Ok(heard)
}

/// Fires the receiver's timers that fall due up to `now`, as a call's media
/// thread does between packets.
fn drive_until(receiver: &mut RtpReceiver, now: Instant) {
    while let Some(at) = receiver.poll_timeout().filter(|&at| at <= now) {
        receiver.handle_timeout(at);
    }
}

fn collect(receiver: &mut RtpReceiver, frames: &mut Vec<Vec<i16>>) {
    while let Some(event) = receiver.poll_event() {
        if let MediaEvent::Frame(frame) = event {
            frames.push(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|n| ((n as f32 * 0.3).sin() * 8000.0) as i16)
            .collect()
    }

    #[test]
    fn without_loss_every_packet_becomes_frames_at_the_output_rate() {
        let heard = through_a_call(
            &tone(8000),
            Loss {
                percent: 0.0,
                seed: 1,
            },
            16_000,
        )
        .unwrap();
        assert_eq!((heard.sent, heard.dropped), (50, 0));
        assert!(heard.frames.iter().all(|f| f.len() == 320));
        // The resampler holds back a frame or two of delay.
        assert!(
            (47..=50).contains(&heard.frames.len()),
            "{}",
            heard.frames.len()
        );
    }

    #[test]
    fn the_seed_chooses_which_packets_are_lost_and_all_loss_is_silence() {
        let pcm = tone(80_000);
        let lossy = |percent, seed| {
            let h = through_a_call(&pcm, Loss { percent, seed }, 8000).unwrap();
            (h.dropped, h.frames)
        };
        let (dropped, frames) = lossy(10.0, 7);
        assert!((25..=75).contains(&dropped), "{dropped} of 500 dropped");
        assert_eq!(lossy(10.0, 7), (dropped, frames.clone()));
        assert_ne!(lossy(10.0, 8).1, frames);
        let (dropped, frames) = lossy(100.0, 7);
        assert_eq!(dropped, 500);
        assert!(frames.is_empty());
    }
}
