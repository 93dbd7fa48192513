"""One canonical spelling of a Chinese address, keeping every name.

:func:`normalize_address` rewrites, and never deletes a name:

* full-width → half-width (Unicode NFKC: ``１２号`` → ``12号``, ``Ａ座`` → ``A座``);
* Traditional → Simplified characters with OpenCC (``號`` → ``号``, ``黃浦區`` → ``黄浦区``);
* spaces and punctuation out (``，、。·#/()`` …), dashes to ``-``;
* Chinese numerals before a number word to digits (``十二号`` → ``12号``, ``二单元`` →
  ``2单元``, ``一百零一室`` → ``101室``); numerals inside names stay (``中山东一路``);
* one word per part: building ``号楼/幢/座/栋/楼`` → ``栋``, unit ``单元/门`` → ``单元``,
  floor ``层/楼`` → ``层``, room ``室/房/号房/户`` (or a bare number after the unit) → ``室``;
* shorthand ``3-2-501`` → ``3栋2单元501室`` (``2-501`` after a building: unit 2, room 501;
  ``3-501`` after a compound: building 3, room 501).

Normalising twice changes nothing (a property test checks it).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any, Final

CN_DIGIT: Final = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
                   "六": 6, "七": 7, "八": 8, "九": 9, "壹": 1, "贰": 2, "叁": 3, "肆": 4,
                   "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9}  # fmt: skip
CN_UNIT: Final = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
NUMERAL: Final = "".join(CN_DIGIT) + "".join(CN_UNIT)
NUMBER_WORDS: Final = "号|栋|幢|座|单元|室|层|楼|弄|门|组|队|期|户|房"
CN_NUMBER: Final = re.compile(rf"(?<![{NUMERAL}])[{NUMERAL}]+(?=(?:{NUMBER_WORDS}))")
DROP: Final = re.compile(r"[\s,，、。．·•.#＃/\\()（）【】\[\]{}<>《》\"'“”‘’:：;；!！?？*_|=+]+")
DASH: Final = re.compile(r"[‐‑‒–—―－~～─]+")
DIGIT_HASH: Final = re.compile(r"(\d)#")
DIGIT_GAP: Final = re.compile(rf"(?<=\d){DROP.pattern}(?=\d)")
BUILDING_ID: Final = r"(?:[A-Z]?\d+[A-Z]?|[A-Z])"

NUMBER_WORD: Final = re.compile(
    rf"({BUILDING_ID})(号楼|号栋|号座|号幢|号房|号室|栋楼|楼层|房间|单元|幢|座|栋|门|层|楼|房|户|室|F)"
)
BUILDING_WORDS: Final = frozenset(("号楼", "号栋", "号座", "号幢", "栋楼", "幢", "座", "栋"))
ROOM_WORDS: Final = frozenset(("号房", "号室", "房间", "房", "户", "室"))
DIGITS: Final = frozenset("0123456789")


def _number_word(m: re.Match[str]) -> str:
    """The canonical word of one ``number + word`` (see the module docstring)."""
    number, word = m.group(1), m.group(2)
    s, at, end = m.string, m.start(), m.end()
    after, before, two_before = s[end : end + 1], s[at - 1 : at], s[at - 2 : at]
    canon: str | None = None
    if word in BUILDING_WORDS:
        canon = "栋"
    elif word in ROOM_WORDS:
        canon = "室"
    elif not number.isdigit():
        canon = "栋" if word == "楼" and after not in ("层", "室") else None
    elif word == "单元" or (word == "门" and (after in DIGITS or after in "A室层楼户房")):
        canon = "单元"
    elif word in ("层", "楼层") or (word == "F" and after in DIGITS):
        canon = "层"
    elif word == "楼":
        floor = before in ("栋", "元") or (
            two_before[:1] in DIGITS and before == "号" and after in DIGITS
        )
        canon = "层" if floor else ("栋" if after not in ("层", "室") else None)
    return m.group(0) if canon is None else number + canon


def _shorthand(s: str) -> str:
    """``3-2-501`` → ``3栋2单元501室`` and the shorter forms, at the end of the address."""
    body = s[:-1] if s.endswith("室") else s
    start = len(body.rstrip("0123456789-"))
    tail, before = body[start:], body[start - 1 : start]
    numbers = tail.split("-")
    if not tail or any(not n for n in numbers[1:]) or (numbers[0] == "" and len(numbers) != 2):
        return s
    head = body[:start]
    if len(numbers) == 3 and numbers[0] and (not before or before not in "栋元层室"):
        return f"{head}{numbers[0]}栋{numbers[1]}单元{numbers[2]}室"
    if len(numbers) == 2 and numbers[0] and before == "栋":
        return f"{head}{numbers[0]}单元{numbers[1]}室"
    if len(numbers) == 2 and numbers[0] and (before == "号" or _names_place(before)):
        return f"{head}{numbers[0]}栋{numbers[1]}室"
    if len(numbers) <= 2 and before in ("栋", "元", "层") and before and not s.endswith("室"):
        return f"{head}{numbers[-1]}室"
    return s


def _names_place(char: str) -> bool:
    """Whether ``char`` can end a compound's name (a letter or ideograph, not a part word)."""
    return char.isalpha() and not char.isascii() and char not in "栋元层室号"


@functools.cache
def _converter() -> Any:
    import opencc  # noqa: PLC0415 - loads its dictionaries once, on first use

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → Simplified Chinese (OpenCC ``t2s``); Simplified text is unchanged."""
    return str(_converter().convert(text))


def cn_to_int(text: str) -> int:
    """A Chinese numeral as an integer: ``十二`` → 12, ``一百零一`` → 101, ``五零一`` → 501.

    Examples
    --------
    >>> cn_to_int("二十三"), cn_to_int("一千零二"), cn_to_int("贰")
    (23, 1002, 2)
    """
    if not any(c in CN_UNIT for c in text):
        return int("".join(str(CN_DIGIT[c]) for c in text))
    total, digit = 0, None
    for c in text:
        if c in CN_DIGIT:
            digit = CN_DIGIT[c]
        else:
            total += (1 if digit is None else digit) * CN_UNIT[c]
            digit = None
    return total + (digit or 0)


NUMERAL_SET: Final = frozenset(NUMERAL)


def _numerals(text: str) -> str:
    if NUMERAL_SET.isdisjoint(text):
        return text

    def number(m: re.Match[str]) -> str:
        try:
            return str(cn_to_int(m.group(0)))
        except (KeyError, ValueError):
            return m.group(0)

    return CN_NUMBER.sub(number, text)


def clean(text: str) -> str:
    """Width, script, case and punctuation only (what every part shares)."""
    s = unicodedata.normalize("NFKC", str(text))
    s = to_simplified(s).upper()
    if DASH.search(s):
        s = DASH.sub("-", s)
    if DROP.search(s):
        s = DIGIT_HASH.sub(r"\1栋", s)  # 3#楼, 3#501: building 3
        s = DIGIT_GAP.sub("-", s)  # 3 2 501: shorthand, not 32501
        s = DROP.sub("", s)
    if not unicodedata.is_normalized("NFKC", s):  # dropping or upper-casing can denormalise
        s = unicodedata.normalize("NFKC", s)
    return s


def normalize_address(text: str) -> str:
    """One canonical spelling of a Chinese address (see the module docstring).

    Examples
    --------
    >>> normalize_address("上海市黄浦区中山东一路１２號３号楼二单元５０１")
    '上海市黄浦区中山东一路12号3栋2单元501室'
    >>> normalize_address("和平小区 3-2-1201")
    '和平小区3栋2单元1201室'
    """
    s = NUMBER_WORD.sub(_number_word, _numerals(clean(text)))
    return _shorthand(s) if s[-1:].isdigit() or s.endswith("室") else s
