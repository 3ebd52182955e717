use super::recognizer::ListenConfig;
use super::*;
use std::io::Write;

/// Config::load reads the process environment, which the environment
/// test changes: tests that load take turns.
static ENVIRONMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn environment() -> std::sync::MutexGuard<'static, ()> {
    ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner())
}

fn load_text(text: &str) -> Result<Config, ConfigError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let _turn = environment();
    Config::load(f.path(), true)
}

#[test]
fn the_shipped_config_file_is_valid_and_complete() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/passgate.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = load_text(&text).unwrap();
    assert_eq!(
        config.rtp.port_range,
        PortRange {
            first: 20000,
            last: 30000
        }
    );
    // Every key of the defaults is written (documented) in the file.
    let defaults = toml::to_string(&Config::default()).unwrap();
    for line in defaults.lines().filter(|l| l.contains(" = ")) {
        let key = line.split(" = ").next().unwrap();
        assert!(
            text.contains(&format!("\n{key} = ")),
            "config/passgate.toml lacks {key}"
        );
    }
}

#[test]
fn the_shipped_flow_section_states_the_defaults_exactly() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/passgate.toml");
    let config = {
        let _turn = environment();
        Config::load(&path, true).unwrap()
    };
    let mut expected = auth::flow::FlowConfig::default();
    // Filled from asr.vocabulary at start-up, not written in [flow].
    expected.passphrase.vocabulary = None;
    assert_eq!(config.flow, expected);
    assert_eq!(config.lockout, auth::store::LockoutPolicy::default());
    assert_eq!(config.sms_cap, auth::store::SmsCap::default());
}

#[test]
fn every_listening_setting_reaches_the_turns_options() {
    let config = load_text(
        "[asr.listen]\nmax_alternatives = 3\nend_silence_ms = 900\n\
         end_silence_when_complete_ms = 150\nmin_speech_ms = 250\n\
         margin_db = 12.0\nmin_level_dbfs = -45.0\nend_needs_words = false\n\
         pre_roll_ms = 800\n",
    )
    .unwrap();
    let options = config.asr.listen.options();
    assert_eq!(options.max_alternatives, 3);
    assert_eq!(options.pre_roll, Some(Duration::from_millis(800)));
    assert_eq!(Config::default().asr.listen.options().pre_roll, None);
    assert!(!options.end_needs_words);
    assert!(Config::default().asr.listen.options().end_needs_words);
    let e = options.endpointer;
    assert_eq!(e.end_silence, Duration::from_millis(900));
    assert_eq!(e.end_silence_when_complete, Duration::from_millis(150));
    assert_eq!(e.min_speech, Duration::from_millis(250));
    assert_eq!(e.margin_db, 12.0);
    assert_eq!(e.min_level_dbfs, -45.0);
    // The shipped defaults are the recognizer's own.
    let shipped = ListenConfig::default().options();
    let defaults = asr::ListenOptions::default();
    assert_eq!(shipped.endpointer, defaults.endpointer);
    assert_eq!(shipped.max_alternatives, defaults.max_alternatives);
    let err = load_text("[asr.listen]\nmax_alternatives = 0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("asr.listen.max_alternatives"), "{err}");
    // A pre-roll shorter than the speech the end-pointer waits for would
    // never decode the speech's start.
    let err = load_text("[asr.listen]\npre_roll_ms = 100\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("asr.listen.pre_roll_ms"), "{err}");
}

#[test]
fn the_lattice_beam_stands_in_for_the_models_own_unless_zero() {
    let shipped = {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/passgate.toml");
        let _turn = environment();
        Config::load(&path, true).unwrap()
    };
    // The file and the code ship the same decoder and list.
    assert_eq!(shipped.asr.decoder(), asr::DecoderOptions::default());
    assert_eq!(shipped.asr.decoder().lattice_beam, Some(8.0));
    assert_eq!(shipped.asr.listen.options().max_alternatives, 20);
    let own = load_text("[asr]\nlattice_beam = 0.0\n").unwrap();
    assert_eq!(own.asr.decoder(), asr::DecoderOptions::model_own());
    let err = load_text("[asr]\nlattice_beam = -2.0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("asr.lattice_beam"), "{err}");
}

#[test]
fn a_bad_value_names_its_key() {
    let err = load_text("[sip]\nlisten = \"not an address\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sip.listen"), "{err}");
    let err = load_text("[rtp]\nport_range = \"30000-20000\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("rtp.port_range"), "{err}");
    let err = load_text("[sip]\ncodecs = [\"g729\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sip.codecs") && err.contains("g729"), "{err}");
    let err = load_text("[prompts]\nno_barge_in = [\"greting\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("prompts.no_barge_in") && err.contains("greting"),
        "{err}"
    );
    let err = load_text("[passphrase]\nmargin = -1.0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("passphrase.margin"), "{err}");
    let rule = load_text("[passphrase]\nmargin = 1.25\n")
        .unwrap()
        .passphrase;
    assert_eq!(rule.margin, 1.25);
    assert_eq!(rule.max_candidates, 16);
    let err = load_text("[transfer]\nrepresentative = \"bob\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("transfer.representative"), "{err}");
    let err = load_text("[sip]\ntrying_after_ms = 250\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sip.trying_after_ms") && err.contains("250"),
        "{err}"
    );
    for key in [
        "[sip.tcp]\nmax_connections_per_source = 0\n",
        "[sip.tcp]\nmessage_timeout_secs = 0\n",
        "[sip]\ndigest_lockout_secs = 0\n",
    ] {
        let err = load_text(key).unwrap_err().to_string();
        let name = key.split(['\n', ' ']).nth(1).unwrap();
        assert!(err.contains(name), "{err}");
    }
    for (key, name) in [
        ("[asr]\nworker_nice = 20\n", "asr.worker_nice"),
        ("[asr]\nworker_nice = -1\n", "asr.worker_nice"),
        ("[asr]\nadmit_queue_ms = 10001\n", "asr.admit_queue_ms"),
        (
            "[asr]\nadmit_crowding_factor = 0.5\n",
            "asr.admit_crowding_factor",
        ),
        (
            "[asr]\nadmit_crowding_factor = nan\n",
            "asr.admit_crowding_factor",
        ),
    ] {
        let err = load_text(key).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn the_ipv6_address_follows_the_listen_address_unless_configured() {
    let mut config = Config::default();
    assert_eq!(config.public_ipv6(), None, "0.0.0.0 takes no IPv6 callers");
    config.sip.listen = "[::]:5060".parse().unwrap();
    assert_eq!(config.public_ip(), IpAddr::from([127, 0, 0, 1]));
    assert_eq!(config.public_ipv6(), Some(Ipv6Addr::LOCALHOST));
    config.sip.public_address_v6 = "2001:db8::1".into();
    assert_eq!(config.public_ipv6(), Some("2001:db8::1".parse().unwrap()));
    let err = load_text("[sip]\npublic_address_v6 = \"192.0.2.1\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sip.public_address_v6"), "{err}");
}

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    let err = load_text("[sip]\nlisen = \"127.0.0.1:5060\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("lisen"), "{err}");
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
fn environment_overrides_the_file() {
    let _turn = environment();
    figment::Jail::expect_with(|jail| {
        jail.create_file("p.toml", "[sip]\nlisten = \"127.0.0.1:5070\"\n")?;
        jail.set_env("PASSGATE_SIP__LISTEN", "127.0.0.1:5080");
        jail.set_env("PASSGATE_CALL__MAX_DURATION_SECS", "5");
        let config = Config::load(Path::new("p.toml"), true).map_err(|e| e.to_string())?;
        assert_eq!(config.sip.listen, "127.0.0.1:5080".parse().unwrap());
        assert_eq!(config.call.max_duration_secs, 5);
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
fn a_decimal_from_the_environment_is_the_number_written() {
    let _turn = environment();
    figment::Jail::expect_with(|jail| {
        jail.create_file("p.toml", "[asr]\nadmit_crowding_factor = 1.3\n")?;
        // Short enough for figment to read as an f32.
        jail.set_env("PASSGATE_ASR__ADMIT_MAX_LOAD", "0.6");
        jail.set_env("PASSGATE_SIP__MAX_CALLS_PER_SECOND", "2");
        jail.set_env("PASSGATE_SIP__CALLS_PER_SECOND_PER_SOURCE", "0.1");
        let config = Config::load(Path::new("p.toml"), true).map_err(|e| e.to_string())?;
        assert_eq!(config.asr.admit_max_load, 0.6);
        assert_eq!(config.asr.admit_crowding_factor, 1.3);
        assert_eq!(config.sip.max_calls_per_second, 2.0);
        assert_eq!(config.sip.calls_per_second_per_source, 0.1);
        Ok(())
    });
}

/// The dotted path of every number with a fraction in `value`.
fn decimal_keys(value: &figment::value::Value, path: &str, out: &mut Vec<String>) {
    use figment::value::{Num, Value};
    match value {
        Value::Dict(_, dict) => {
            for (key, inner) in dict {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                decimal_keys(inner, &path, out);
            }
        }
        Value::Num(_, Num::F32(_) | Num::F64(_)) => out.push(path.to_string()),
        _ => {}
    }
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
fn every_decimal_key_set_from_the_environment_is_the_number_written() {
    use figment::value::{Num, Value};
    let _turn = environment();
    let defaults = Figment::from(Serialized::defaults(Config::default()))
        .find_value("")
        .unwrap();
    let mut keys = Vec::new();
    decimal_keys(&defaults, "", &mut keys);
    assert!(
        keys.len() >= 10,
        "the walk finds the decimal keys: {keys:?}"
    );
    figment::Jail::expect_with(|jail| {
        for key in &keys {
            let var = format!("PASSGATE_{}", key.replace('.', "__").to_ascii_uppercase());
            // Short enough for figment to read as an f32.
            jail.set_env(var, "0.3");
        }
        let config: Config = Config::layers(Path::new("absent.toml"))
            .extract_lossy()
            .map_err(|e| e.to_string())?;
        let read = Figment::from(Serialized::defaults(config))
            .find_value("")
            .unwrap();
        for key in &keys {
            let text = match read.find_ref(key) {
                Some(Value::Num(_, Num::F32(v))) => v.to_string(),
                Some(Value::Num(_, Num::F64(v))) => v.to_string(),
                other => format!("{other:?}"),
            };
            assert_eq!(text, "0.3", "{key}");
        }
        Ok(())
    });
}

#[test]
fn a_missing_required_file_is_reported() {
    let err = Config::load(Path::new("/nonexistent/passgate.toml"), true).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/passgate.toml"));
}
