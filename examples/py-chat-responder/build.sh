#!/bin/sh
# Builds the chat responder into dist/py-chat-responder.wasm with
# componentize-py (install it with `pip install componentize-py==0.25.1`).
set -eu
cd "$(dirname "$0")"
if ! command -v componentize-py >/dev/null 2>&1; then
    echo "componentize-py not found: pip install componentize-py==0.25.1" >&2
    exit 127
fi
mkdir -p dist
componentize-py -d ../../wit -w chat-responder-plugin componentize app -o dist/py-chat-responder.wasm
