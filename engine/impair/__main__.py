"""``python -m engine.impair CONFIG_JSON``: the relay as the runner's child (see ``process.ProxyProcess``)."""

import sys

import msgspec

from engine.impair.process import ProxyConfig, run_proxy

run_proxy(msgspec.json.decode(sys.argv[1], type=ProxyConfig), lambda line: print(line, flush=True))
