//! Per-packet cost of the receive path (parse, jitter, G.711 decode, DTMF, VAD, frame out)
//! and of the send path (pace, encode, serialise), for one 20 ms G.711 packet, and
//! what SRTP adds to each (protect before sending, check and decrypt on receipt).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use media::{
    Pacer, PacerConfig, ReceiverConfig, RtpPacket, RtpReceiver, Srtp, SrtpConfig, SrtpMaster,
    SrtpProfile, G711,
};

fn speechish(samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|n| {
            let t = n as f32 / 8000.0;
            (4000.0 * (2.0 * std::f32::consts::PI * 180.0 * t).sin()
                + 2000.0 * (2.0 * std::f32::consts::PI * 720.0 * t).sin()) as i16
        })
        .collect()
}

fn datagram() -> Vec<u8> {
    let mut payload = Vec::new();
    G711::Ulaw.encode(&speechish(160), &mut payload);
    RtpPacket {
        payload_type: 0,
        marker: false,
        sequence_number: 0,
        timestamp: 0,
        ssrc: 0x1234,
        payload: payload.into(),
    }
    .to_bytes()
    .unwrap()
    .to_vec()
}

fn receive(c: &mut Criterion, name: &str, config: ReceiverConfig, listening: bool) {
    let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut rx = RtpReceiver::new(config).unwrap();
    rx.set_listening(listening);
    let mut bytes = datagram();
    let mut seq: u16 = 0;
    let mut ts: u32 = 0;
    let now = Instant::now();
    c.bench_function(name, |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
            bytes[2..4].copy_from_slice(&seq.to_be_bytes());
            bytes[4..8].copy_from_slice(&ts.to_be_bytes());
            rx.handle_datagram(now, from, black_box(&bytes));
            while let Some(event) = rx.poll_event() {
                black_box(event);
            }
        })
    });
}

fn receive_paths(c: &mut Criterion) {
    receive(
        c,
        "receive: PCMU + telephone-event, 8 kHz frames",
        ReceiverConfig::g711(G711::Ulaw, Some(101), 8000),
        true,
    );
    receive(
        c,
        "receive: PCMU + in-band DTMF, 8 kHz frames",
        ReceiverConfig::g711(G711::Ulaw, None, 8000),
        true,
    );
    receive(
        c,
        "receive: PCMU + telephone-event + resample to 16 kHz",
        ReceiverConfig::g711(G711::Ulaw, Some(101), 16000),
        true,
    );
    receive(
        c,
        "receive: PCMU + in-band DTMF + resample to 16 kHz",
        ReceiverConfig::g711(G711::Ulaw, None, 16000),
        true,
    );
}

fn send_path(c: &mut Criterion) {
    let start = Instant::now();
    let mut pacer = Pacer::new(PacerConfig::g711(G711::Ulaw, 1, 0, 0));
    let prompt = speechish(8000 * 60);
    let mut now = start;
    pacer.enqueue(now, prompt.clone());
    c.bench_function("send: pace + encode + serialise one packet", |b| {
        b.iter(|| {
            if pacer.poll_timeout().is_none() {
                pacer.enqueue(now, prompt.clone());
            }
            now += Duration::from_millis(20);
            pacer.handle_timeout(now);
            while let Some(out) = pacer.poll_packet() {
                black_box(out.packet.to_bytes().unwrap());
            }
        })
    });
}

fn srtp_paths(c: &mut Criterion) {
    let keys = |a: u8, b: u8| SrtpConfig {
        profile: SrtpProfile::Aes128CmSha1_80,
        local: SrtpMaster {
            key: vec![a; 16],
            salt: [a; 14],
        },
        remote: SrtpMaster {
            key: vec![b; 16],
            salt: [b; 14],
        },
    };
    let mut ours = Srtp::new(keys(1, 2)).unwrap();
    let mut theirs = Srtp::new(keys(2, 1)).unwrap();
    let mut bytes = datagram();
    let mut seq: u16 = 0;
    c.bench_function("srtp: protect one packet (AES_CM_128_HMAC_SHA1_80)", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            bytes[2..4].copy_from_slice(&seq.to_be_bytes());
            black_box(ours.protect_rtp(black_box(&bytes)))
        })
    });
    c.bench_function("srtp: check and decrypt one packet", |b| {
        b.iter_batched(
            || {
                seq = seq.wrapping_add(1);
                bytes[2..4].copy_from_slice(&seq.to_be_bytes());
                theirs.protect_rtp(&bytes).unwrap()
            },
            |wire| black_box(ours.unprotect_rtp(&wire)),
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, receive_paths, send_path, srtp_paths);
criterion_main!(benches);
