"""ISO-639-1 language codes and the language names transcription servers report.

Two places in the SDK need to know what a language is:

* the ``language`` request field, which OpenAI-compatible ``/audio/transcriptions``
  endpoints expect as an ISO-639-1 code (``"en"``, ``"fr"``). Checking it on the
  client turns a typo such as ``"english"`` or ``"en-US"`` into a clear error with a
  suggestion, instead of a vague 400 from the server or a silently ignored hint;
* the ``language`` a server returns in ``verbose_json``. Whisper-based servers report
  a lowercase English name (``"english"``, ``"haitian creole"``, ``"castilian"``),
  others return a code, so the SDK normalises both to one ISO-639-1 code.

The tables are plain data so that the check needs no third-party dependency.
"""

from __future__ import annotations

__all__ = ["ISO_639_1", "LANGUAGE_NAME_TO_CODE", "to_language_code"]

# Every two-letter code of ISO 639-1 (184, including the collective "bh"), mapped
# to a lowercase English name. The long-withdrawn "sh" (Serbo-Croatian) is left out
# on purpose: it names no single language a server could be asked for.
ISO_639_1: dict[str, str] = {
    "aa": "afar",
    "ab": "abkhazian",
    "ae": "avestan",
    "af": "afrikaans",
    "ak": "akan",
    "am": "amharic",
    "an": "aragonese",
    "ar": "arabic",
    "as": "assamese",
    "av": "avaric",
    "ay": "aymara",
    "az": "azerbaijani",
    "ba": "bashkir",
    "be": "belarusian",
    "bg": "bulgarian",
    "bh": "bihari",
    "bi": "bislama",
    "bm": "bambara",
    "bn": "bengali",
    "bo": "tibetan",
    "br": "breton",
    "bs": "bosnian",
    "ca": "catalan",
    "ce": "chechen",
    "ch": "chamorro",
    "co": "corsican",
    "cr": "cree",
    "cs": "czech",
    "cu": "church slavic",
    "cv": "chuvash",
    "cy": "welsh",
    "da": "danish",
    "de": "german",
    "dv": "divehi",
    "dz": "dzongkha",
    "ee": "ewe",
    "el": "greek",
    "en": "english",
    "eo": "esperanto",
    "es": "spanish",
    "et": "estonian",
    "eu": "basque",
    "fa": "persian",
    "ff": "fulah",
    "fi": "finnish",
    "fj": "fijian",
    "fo": "faroese",
    "fr": "french",
    "fy": "western frisian",
    "ga": "irish",
    "gd": "scottish gaelic",
    "gl": "galician",
    "gn": "guarani",
    "gu": "gujarati",
    "gv": "manx",
    "ha": "hausa",
    "he": "hebrew",
    "hi": "hindi",
    "ho": "hiri motu",
    "hr": "croatian",
    "ht": "haitian",
    "hu": "hungarian",
    "hy": "armenian",
    "hz": "herero",
    "ia": "interlingua",
    "id": "indonesian",
    "ie": "interlingue",
    "ig": "igbo",
    "ii": "sichuan yi",
    "ik": "inupiaq",
    "io": "ido",
    "is": "icelandic",
    "it": "italian",
    "iu": "inuktitut",
    "ja": "japanese",
    "jv": "javanese",
    "ka": "georgian",
    "kg": "kongo",
    "ki": "kikuyu",
    "kj": "kuanyama",
    "kk": "kazakh",
    "kl": "kalaallisut",
    "km": "khmer",
    "kn": "kannada",
    "ko": "korean",
    "kr": "kanuri",
    "ks": "kashmiri",
    "ku": "kurdish",
    "kv": "komi",
    "kw": "cornish",
    "ky": "kyrgyz",
    "la": "latin",
    "lb": "luxembourgish",
    "lg": "ganda",
    "li": "limburgish",
    "ln": "lingala",
    "lo": "lao",
    "lt": "lithuanian",
    "lu": "luba-katanga",
    "lv": "latvian",
    "mg": "malagasy",
    "mh": "marshallese",
    "mi": "maori",
    "mk": "macedonian",
    "ml": "malayalam",
    "mn": "mongolian",
    "mr": "marathi",
    "ms": "malay",
    "mt": "maltese",
    "my": "burmese",
    "na": "nauru",
    "nb": "norwegian bokmål",
    "nd": "north ndebele",
    "ne": "nepali",
    "ng": "ndonga",
    "nl": "dutch",
    "nn": "norwegian nynorsk",
    "no": "norwegian",
    "nr": "south ndebele",
    "nv": "navajo",
    "ny": "chichewa",
    "oc": "occitan",
    "oj": "ojibwa",
    "om": "oromo",
    "or": "oriya",
    "os": "ossetian",
    "pa": "punjabi",
    "pi": "pali",
    "pl": "polish",
    "ps": "pashto",
    "pt": "portuguese",
    "qu": "quechua",
    "rm": "romansh",
    "rn": "rundi",
    "ro": "romanian",
    "ru": "russian",
    "rw": "kinyarwanda",
    "sa": "sanskrit",
    "sc": "sardinian",
    "sd": "sindhi",
    "se": "northern sami",
    "sg": "sango",
    "si": "sinhala",
    "sk": "slovak",
    "sl": "slovenian",
    "sm": "samoan",
    "sn": "shona",
    "so": "somali",
    "sq": "albanian",
    "sr": "serbian",
    "ss": "swati",
    "st": "southern sotho",
    "su": "sundanese",
    "sv": "swedish",
    "sw": "swahili",
    "ta": "tamil",
    "te": "telugu",
    "tg": "tajik",
    "th": "thai",
    "ti": "tigrinya",
    "tk": "turkmen",
    "tl": "tagalog",
    "tn": "tswana",
    "to": "tonga",
    "tr": "turkish",
    "ts": "tsonga",
    "tt": "tatar",
    "tw": "twi",
    "ty": "tahitian",
    "ug": "uyghur",
    "uk": "ukrainian",
    "ur": "urdu",
    "uz": "uzbek",
    "ve": "venda",
    "vi": "vietnamese",
    "vo": "volapük",
    "wa": "walloon",
    "wo": "wolof",
    "xh": "xhosa",
    "yi": "yiddish",
    "yo": "yoruba",
    "za": "zhuang",
    "zh": "chinese",
    "zu": "zulu",
}

# Other names for the same languages: the names Whisper prints (its tokenizer
# knows e.g. "myanmar", "nynorsk", "haitian creole" and the aliases "burmese",
# "castilian", "flemish", "letzeburgesch", "moldavian", "moldovan", "panjabi",
# "pushto", "sinhalese", "valencian"), spellings without diacritics, and common
# alternatives. Varieties without a two-letter code of their own map to the code
# of the macrolanguage that contains them (Cantonese and Mandarin to "zh").
_NAME_ALIASES: dict[str, str] = {
    "bangla": "bn",
    "bokmal": "nb",
    "bokmål": "nb",
    "cantonese": "zh",
    "castilian": "es",
    "central khmer": "km",
    "chewa": "ny",
    "church slavonic": "cu",
    "dhivehi": "dv",
    "farsi": "fa",
    "flemish": "nl",
    "frisian": "fy",
    "fula": "ff",
    "gaelic": "gd",
    "gikuyu": "ki",
    "greenlandic": "kl",
    "haitian creole": "ht",
    "kirghiz": "ky",
    "kirundi": "rn",
    "kwanyama": "kj",
    "letzeburgesch": "lb",
    "limburgan": "li",
    "limburger": "li",
    "luganda": "lg",
    "maldivian": "dv",
    "mandarin": "zh",
    "modern greek": "el",
    "moldavian": "ro",
    "moldovan": "ro",
    "myanmar": "my",
    "navaho": "nv",
    "norwegian bokmal": "nb",
    "nuosu": "ii",
    "nyanja": "ny",
    "nynorsk": "nn",
    "occidental": "ie",
    "odia": "or",
    "ojibwe": "oj",
    "old church slavonic": "cu",
    "ossetic": "os",
    "panjabi": "pa",
    "pushto": "ps",
    "romansch": "rm",
    "sesotho": "st",
    "setswana": "tn",
    "sinhalese": "si",
    "slovene": "sl",
    "sotho": "st",
    "swazi": "ss",
    "uighur": "ug",
    "valencian": "ca",
    "volapuk": "vo",
}

# Every name above (primary or alias), lowercase, mapped to its ISO-639-1 code.
LANGUAGE_NAME_TO_CODE: dict[str, str] = {
    **{name: code for code, name in ISO_639_1.items()},
    **_NAME_ALIASES,
}

# Codes withdrawn from ISO 639-1 that still turn up, with their replacements.
# "jw" is what Whisper uses for Javanese.
_CODE_ALIASES: dict[str, str] = {
    "in": "id",
    "iw": "he",
    "ji": "yi",
    "jw": "jv",
    "mo": "ro",
}

_MAX_SUBTAG_LENGTH = 8  # BCP-47 subtags are 1 to 8 ASCII letters or digits


def _lookup_code(code: str) -> str | None:
    if code in ISO_639_1:
        return code
    return _CODE_ALIASES.get(code)


def to_language_code(value: str | None) -> str | None:
    """Return the ISO-639-1 code for a language code or name, or ``None``.

    Matching ignores case and surrounding whitespace. Accepted forms:

    * a two-letter code: ``"en"``, ``"FR"`` (and the withdrawn ``"iw"``, ``"in"``,
      ``"ji"``, ``"mo"`` plus Whisper's ``"jw"``, mapped to their current codes);
    * an English language name, including the ones Whisper reports:
      ``"english"``, ``"Haitian Creole"``, ``"castilian"`` -> ``"es"``;
    * a BCP-47 tag or locale whose primary subtag is a two-letter code:
      ``"en-US"``, ``"pt_BR"``, ``"zh-Hant-TW"``.

    Anything else, including languages that ISO 639-1 does not cover (such as
    ``"hawaiian"``), gives ``None``.
    """
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not text:
        return None

    code = _lookup_code(text)
    if code is not None:
        return code

    name_code = LANGUAGE_NAME_TO_CODE.get(" ".join(text.replace("_", " ").split()))
    if name_code is not None:
        return name_code

    subtags = text.replace("_", "-").split("-")
    if len(subtags) > 1 and all(
        0 < len(tag) <= _MAX_SUBTAG_LENGTH and tag.isascii() and tag.isalnum() for tag in subtags
    ):
        return _lookup_code(subtags[0])
    return None
