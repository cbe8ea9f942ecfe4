#!/usr/bin/env bash
# Turn every prompts/<lang>/<name>.txt into build/sounds/<lang>/switchboard/<name>.wav
# (8 kHz, mono, 16-bit PCM: what Asterisk's format_wav plays without resampling).
# Incremental: a prompt is rebuilt only when its .txt is newer than its .wav.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
src="$repo/prompts"
out="${SWITCHBOARD_SOUNDS_DIR:-$repo/build/sounds}"

for txt in "$src"/*/*.txt; do
    [ -e "$txt" ] || continue
    lang=$(basename "$(dirname "$txt")")
    name=$(basename "$txt" .txt)
    wav="$out/$lang/switchboard/$name.wav"
    if [ "$wav" -nt "$txt" ]; then
        continue
    fi
    mkdir -p "$(dirname "$wav")"
    tmp=$(mktemp --suffix=.wav)
    # espeak-ng picks the voice by language code (en, ru, ...); 22 kHz output.
    espeak-ng -v "$lang" -s 150 -w "$tmp" -f "$txt"
    # Write to a temp name first so an interrupted build leaves no half file.
    sox "$tmp" -r 8000 -c 1 -b 16 "$wav.part.wav"
    mv "$wav.part.wav" "$wav"
    rm -f "$tmp"
    echo "prompt: $lang/$name.wav"
done

# Music on hold: Debian ships none, so make a soft placeholder (a quiet
# pulsing tone, 10 s, looped by Asterisk).
# For production put licensed music in Asterisk's moh directory instead.
moh="$(dirname "$out")/moh/placeholder.wav"
if [ ! -e "$moh" ] || [ "$moh" -ot "$0" ]; then
    mkdir -p "$(dirname "$moh")"
    sox -n -r 8000 -c 1 -b 16 "$moh.part.wav" \
        synth 10 sine 440 tremolo 0.5 80 vol 0.1
    mv "$moh.part.wav" "$moh"
    echo "moh: placeholder.wav"
fi
