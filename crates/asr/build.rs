//! Finds libvosk.so (from the PyPI `vosk` wheel) and links to it with an rpath,
//! so tests and binaries run without LD_LIBRARY_PATH.
//!
//! Search order: $VOSK_LIB_DIR, then `python3 -c "import vosk"`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=VOSK_LIB_DIR");
    let dir = match find() {
        Some(dir) => dir,
        None => {
            eprintln!(
                "error: libvosk.so not found.\n\
                 Install it with `pip install vosk` (or run `make test`/`make demo`, which do),\n\
                 or set VOSK_LIB_DIR to the directory that holds libvosk.so."
            );
            std::process::exit(1);
        }
    };
    let dir = dir.display();
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    println!("cargo:libdir={dir}");
}

fn find() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("VOSK_LIB_DIR") {
        let dir = PathBuf::from(dir);
        return has_lib(&dir).then_some(dir);
    }
    for python in ["python3", "python"] {
        let out = Command::new(python)
            .args([
                "-c",
                "import os, vosk; print(os.path.dirname(vosk.__file__))",
            ])
            .output();
        if let Ok(out) = out {
            if out.status.success() {
                let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                if has_lib(&dir) {
                    return Some(dir);
                }
            }
        }
    }
    None
}

fn has_lib(dir: &Path) -> bool {
    dir.join("libvosk.so").is_file()
}
