//! Gives the bench binaries an rpath to libvosk.so, found by the asr
//! crate's build script, so it runs without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_PASSGATE_VOSK_LIBDIR");
    if let Ok(dir) = std::env::var("DEP_PASSGATE_VOSK_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
