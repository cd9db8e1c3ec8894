"""Counts said as people say them after "about": rounded, then in words of each language.

A customer count is spoken from catalog fragments like any other number, so a storm of any
size needs no new audio: "about one thousand two hundred", "aproximadamente mil doscientos".
"""

from __future__ import annotations

from dataclasses import dataclass

# Below this a count is said exactly; from it on, to two significant figures (at most 5% off).
EXACT_BELOW = 100
LARGEST = 999_999_999


@dataclass(frozen=True, kw_only=True, slots=True)
class Approximate:
    """A count to be said roughly, before a noun ("about 1,200 customers")."""

    count: int


def rounded(count: int) -> int:
    """Exact below EXACT_BELOW, else two significant figures: 347 -> 350, 1,234 -> 1,200."""
    count = max(0, min(count, LARGEST))
    if count < EXACT_BELOW:
        return count
    step: int = 10 ** (len(str(count)) - 2)
    return min((count + step // 2) // step * step, LARGEST // step * step)


# --- English ----------------------------------------------------------------------------

EN_FRAGMENTS = ("number.hundred", "number.thousand", "number.million")


def _below_thousand_en(value: int) -> list[str]:
    hundreds, rest = divmod(value, 100)
    keys = [f"number.{hundreds}", "number.hundred"] if hundreds else []
    if rest or not hundreds:
        keys.append(f"number.{rest}")
    return keys


def about_en(count: int) -> list[str]:
    """ "one thousand two hundred", "twenty-three thousand", "one million two hundred thousand"."""
    value = rounded(count)
    millions, rest = divmod(value, 1_000_000)
    thousands, units = divmod(rest, 1000)
    keys: list[str] = []
    if millions:
        keys += [*_below_thousand_en(millions), "number.million"]
    if thousands:
        keys += [*_below_thousand_en(thousands), "number.thousand"]
    if units or not keys:
        keys += _below_thousand_en(units)
    return keys


# --- Spanish ----------------------------------------------------------------------------

# Before a masculine noun, "mil" or "millones", uno becomes un: "veintiún mil clientes".
_SHORT_ONES = (1, 21, 31, 41, 51, 61, 71, 81, 91)
ES_FRAGMENTS = (
    "number.100",
    *(f"hundreds.{h}" for h in range(1, 10)),
    "number.thousand",
    "number.million",
    "number.millions",
    *(f"number_before_noun.{n}" for n in _SHORT_ONES),
)


def _below_thousand_es(value: int) -> list[str]:
    """Said before a noun: "doscientos un", "cien", "ciento veintiún"."""
    if value == 100:
        return ["number.100"]
    hundreds, rest = divmod(value, 100)
    keys = [f"hundreds.{hundreds}"] if hundreds else []
    if rest in _SHORT_ONES:
        keys.append(f"number_before_noun.{rest}")
    elif rest or not hundreds:
        keys.append(f"number.{rest}")
    return keys


def about_es(count: int) -> list[str]:
    """ "mil doscientos", "veintitrés mil", "un millón doscientos mil"."""
    value = rounded(count)
    millions, rest = divmod(value, 1_000_000)
    thousands, units = divmod(rest, 1000)
    keys: list[str] = []
    if millions == 1:
        keys += ["number_before_noun.1", "number.million"]
    elif millions:
        keys += [*_below_thousand_es(millions), "number.millions"]
    if thousands == 1:
        keys.append("number.thousand")  # "mil", never "un mil"
    elif thousands:
        keys += [*_below_thousand_es(thousands), "number.thousand"]
    if units or not keys:
        keys += _below_thousand_es(units)
    if millions and not rest:
        keys.append("word.of")  # "dos millones de clientes"
    return keys
