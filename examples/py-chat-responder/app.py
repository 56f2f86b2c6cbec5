"""A chat responder in Python, against the gateway's WIT world
`chat-responder-plugin`, built into a component with componentize-py.

It answers from the gateway's price cache (the `market` host import): the
latest quote of the symbol the user names (`EURUSD`, `eur/usd` ...) or is
looking at, its spread in pips, and the change of the mid over the last
`window_minutes` (config, default 15). Asked about no symbol it knows, it
lists the symbols with prices.
"""

import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import clock, config, log, market, types

NAME = "py-chat-responder"
VERSION = "0.1.0"
DEFAULT_WINDOW_MINUTES = 15
MAX_WINDOW_MINUTES = 1440
SYMBOL_RE = re.compile(r"\b([A-Za-z]{3})\s*/?\s*([A-Za-z]{3})\b")

window_minutes = DEFAULT_WINDOW_MINUTES


def read_window() -> int:
    raw = config.get("window_minutes")
    if raw is None:
        return DEFAULT_WINDOW_MINUTES
    try:
        minutes = int(raw.strip())
    except ValueError:
        raise Err(f"window_minutes must be a whole number, got `{raw}`")
    if not 1 <= minutes <= MAX_WINDOW_MINUTES:
        raise Err(f"window_minutes must be between 1 and {MAX_WINDOW_MINUTES}, got {minutes}")
    return minutes


def pip_size(symbol: str) -> float:
    return 0.01 if symbol.endswith("JPY") else 0.0001


def named_symbol(message: str, known: list[str]) -> str | None:
    for base, quote in SYMBOL_RE.findall(message):
        candidate = (base + quote).upper()
        if candidate in known:
            return candidate
    return None


def describe_symbol(symbol: str) -> str:
    tick = market.latest(symbol)
    if tick is None:
        return f"I have no price for {symbol} yet."
    mid = (tick.bid + tick.ask) / 2
    spread = (tick.ask - tick.bid) / pip_size(symbol)
    answer = f"{symbol} is at {tick.bid:.5f} / {tick.ask:.5f} (mid {mid:.5f}, spread {spread:.1f} pips)."
    since = clock.now_ms() - window_minutes * 60_000
    points = market.history(symbol, since)
    if len(points) >= 2:
        first = (points[0].bid + points[0].ask) / 2
        change = (mid - first) / first * 100 if first else 0.0
        trend = "up" if change > 0 else "down" if change < 0 else "flat"
        answer += f" Over the last {window_minutes} min it is {trend} {abs(change):.3f}% ({len(points)} samples)."
    return answer


class ChatResponder(exports.ChatResponder):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name=NAME,
            version=VERSION,
            description="Quotes, spreads and short-term change from the price cache (Python)",
        )

    def init(self) -> None:
        global window_minutes
        window_minutes = read_window()
        log.log(log.Level.INFO, f"{NAME} ready: window {window_minutes} min")

    def respond(self, request: types.ChatRequest) -> types.ChatReply:
        known = market.symbols()
        symbol = named_symbol(request.message, known) or (
            request.current_symbol.upper()
            if request.current_symbol and request.current_symbol.upper() in known
            else None
        )
        if symbol is None:
            listed = ", ".join(known) if known else "none yet"
            return types.ChatReply(message=f"Ask me about a symbol. Symbols with prices: {listed}.")
        return types.ChatReply(message=describe_symbol(symbol))
