//! Language codes. Every table stores lowercase ISO 639-1 codes where one exists (`en`, `de`,
//! `zh`) and ISO 639-3 codes otherwise (`ast`, `yue`), so that the same language is spelled the
//! same way whatever the source called it (`deu`, `ger`, `DE` are all `de`). Sources are
//! converted on the way in; an unknown code is an error naming the file.
//!
//! Mapping rules:
//! - the 184 ISO 639-1 codes are canonical; their ISO 639-2/T and 639-2/B three-letter codes map
//!   to them (`deu`, `ger` → `de`);
//! - the standard individual language of a macrolanguage maps to the macrolanguage's 639-1 code
//!   (`cmn` → `zh`, `arb` → `ar`, `pes` → `fa`, `zsm` → `ms`, …), because corpora label the
//!   standard written variety either way;
//! - other individual languages without a 639-1 code keep their 639-3 code (`yue`, `wuu`, `gsw`),
//!   even when a macrolanguage code exists: Cantonese is not Mandarin.

use std::collections::HashMap;
use std::sync::LazyLock;

/// ISO 639-1, ISO 639-2/T (= 639-3 for these), ISO 639-2/B where it differs, English name.
const ISO_639_1: &[(&str, &str, Option<&str>, &str)] = &[
    ("aa", "aar", None, "Afar"),
    ("ab", "abk", None, "Abkhazian"),
    ("ae", "ave", None, "Avestan"),
    ("af", "afr", None, "Afrikaans"),
    ("ak", "aka", None, "Akan"),
    ("am", "amh", None, "Amharic"),
    ("an", "arg", None, "Aragonese"),
    ("ar", "ara", None, "Arabic"),
    ("as", "asm", None, "Assamese"),
    ("av", "ava", None, "Avaric"),
    ("ay", "aym", None, "Aymara"),
    ("az", "aze", None, "Azerbaijani"),
    ("ba", "bak", None, "Bashkir"),
    ("be", "bel", None, "Belarusian"),
    ("bg", "bul", None, "Bulgarian"),
    ("bh", "bih", None, "Bihari languages"),
    ("bi", "bis", None, "Bislama"),
    ("bm", "bam", None, "Bambara"),
    ("bn", "ben", None, "Bengali"),
    ("bo", "bod", Some("tib"), "Tibetan"),
    ("br", "bre", None, "Breton"),
    ("bs", "bos", None, "Bosnian"),
    ("ca", "cat", None, "Catalan"),
    ("ce", "che", None, "Chechen"),
    ("ch", "cha", None, "Chamorro"),
    ("co", "cos", None, "Corsican"),
    ("cr", "cre", None, "Cree"),
    ("cs", "ces", Some("cze"), "Czech"),
    ("cu", "chu", None, "Church Slavic"),
    ("cv", "chv", None, "Chuvash"),
    ("cy", "cym", Some("wel"), "Welsh"),
    ("da", "dan", None, "Danish"),
    ("de", "deu", Some("ger"), "German"),
    ("dv", "div", None, "Divehi"),
    ("dz", "dzo", None, "Dzongkha"),
    ("ee", "ewe", None, "Ewe"),
    ("el", "ell", Some("gre"), "Greek"),
    ("en", "eng", None, "English"),
    ("eo", "epo", None, "Esperanto"),
    ("es", "spa", None, "Spanish"),
    ("et", "est", None, "Estonian"),
    ("eu", "eus", Some("baq"), "Basque"),
    ("fa", "fas", Some("per"), "Persian"),
    ("ff", "ful", None, "Fulah"),
    ("fi", "fin", None, "Finnish"),
    ("fj", "fij", None, "Fijian"),
    ("fo", "fao", None, "Faroese"),
    ("fr", "fra", Some("fre"), "French"),
    ("fy", "fry", None, "Western Frisian"),
    ("ga", "gle", None, "Irish"),
    ("gd", "gla", None, "Scottish Gaelic"),
    ("gl", "glg", None, "Galician"),
    ("gn", "grn", None, "Guarani"),
    ("gu", "guj", None, "Gujarati"),
    ("gv", "glv", None, "Manx"),
    ("ha", "hau", None, "Hausa"),
    ("he", "heb", None, "Hebrew"),
    ("hi", "hin", None, "Hindi"),
    ("ho", "hmo", None, "Hiri Motu"),
    ("hr", "hrv", None, "Croatian"),
    ("ht", "hat", None, "Haitian"),
    ("hu", "hun", None, "Hungarian"),
    ("hy", "hye", Some("arm"), "Armenian"),
    ("hz", "her", None, "Herero"),
    ("ia", "ina", None, "Interlingua"),
    ("id", "ind", None, "Indonesian"),
    ("ie", "ile", None, "Interlingue"),
    ("ig", "ibo", None, "Igbo"),
    ("ii", "iii", None, "Sichuan Yi"),
    ("ik", "ipk", None, "Inupiaq"),
    ("io", "ido", None, "Ido"),
    ("is", "isl", Some("ice"), "Icelandic"),
    ("it", "ita", None, "Italian"),
    ("iu", "iku", None, "Inuktitut"),
    ("ja", "jpn", None, "Japanese"),
    ("jv", "jav", None, "Javanese"),
    ("ka", "kat", Some("geo"), "Georgian"),
    ("kg", "kon", None, "Kongo"),
    ("ki", "kik", None, "Kikuyu"),
    ("kj", "kua", None, "Kuanyama"),
    ("kk", "kaz", None, "Kazakh"),
    ("kl", "kal", None, "Kalaallisut"),
    ("km", "khm", None, "Khmer"),
    ("kn", "kan", None, "Kannada"),
    ("ko", "kor", None, "Korean"),
    ("kr", "kau", None, "Kanuri"),
    ("ks", "kas", None, "Kashmiri"),
    ("ku", "kur", None, "Kurdish"),
    ("kv", "kom", None, "Komi"),
    ("kw", "cor", None, "Cornish"),
    ("ky", "kir", None, "Kirghiz"),
    ("la", "lat", None, "Latin"),
    ("lb", "ltz", None, "Luxembourgish"),
    ("lg", "lug", None, "Ganda"),
    ("li", "lim", None, "Limburgan"),
    ("ln", "lin", None, "Lingala"),
    ("lo", "lao", None, "Lao"),
    ("lt", "lit", None, "Lithuanian"),
    ("lu", "lub", None, "Luba-Katanga"),
    ("lv", "lav", None, "Latvian"),
    ("mg", "mlg", None, "Malagasy"),
    ("mh", "mah", None, "Marshallese"),
    ("mi", "mri", Some("mao"), "Maori"),
    ("mk", "mkd", Some("mac"), "Macedonian"),
    ("ml", "mal", None, "Malayalam"),
    ("mn", "mon", None, "Mongolian"),
    ("mr", "mar", None, "Marathi"),
    ("ms", "msa", Some("may"), "Malay"),
    ("mt", "mlt", None, "Maltese"),
    ("my", "mya", Some("bur"), "Burmese"),
    ("na", "nau", None, "Nauru"),
    ("nb", "nob", None, "Norwegian Bokmål"),
    ("nd", "nde", None, "North Ndebele"),
    ("ne", "nep", None, "Nepali"),
    ("ng", "ndo", None, "Ndonga"),
    ("nl", "nld", Some("dut"), "Dutch"),
    ("nn", "nno", None, "Norwegian Nynorsk"),
    ("no", "nor", None, "Norwegian"),
    ("nr", "nbl", None, "South Ndebele"),
    ("nv", "nav", None, "Navajo"),
    ("ny", "nya", None, "Chichewa"),
    ("oc", "oci", None, "Occitan"),
    ("oj", "oji", None, "Ojibwa"),
    ("om", "orm", None, "Oromo"),
    ("or", "ori", None, "Oriya"),
    ("os", "oss", None, "Ossetian"),
    ("pa", "pan", None, "Punjabi"),
    ("pi", "pli", None, "Pali"),
    ("pl", "pol", None, "Polish"),
    ("ps", "pus", None, "Pashto"),
    ("pt", "por", None, "Portuguese"),
    ("qu", "que", None, "Quechua"),
    ("rm", "roh", None, "Romansh"),
    ("rn", "run", None, "Rundi"),
    ("ro", "ron", Some("rum"), "Romanian"),
    ("ru", "rus", None, "Russian"),
    ("rw", "kin", None, "Kinyarwanda"),
    ("sa", "san", None, "Sanskrit"),
    ("sc", "srd", None, "Sardinian"),
    ("sd", "snd", None, "Sindhi"),
    ("se", "sme", None, "Northern Sami"),
    ("sg", "sag", None, "Sango"),
    ("si", "sin", None, "Sinhala"),
    ("sk", "slk", Some("slo"), "Slovak"),
    ("sl", "slv", None, "Slovenian"),
    ("sm", "smo", None, "Samoan"),
    ("sn", "sna", None, "Shona"),
    ("so", "som", None, "Somali"),
    ("sq", "sqi", Some("alb"), "Albanian"),
    ("sr", "srp", None, "Serbian"),
    ("ss", "ssw", None, "Swati"),
    ("st", "sot", None, "Southern Sotho"),
    ("su", "sun", None, "Sundanese"),
    ("sv", "swe", None, "Swedish"),
    ("sw", "swa", None, "Swahili"),
    ("ta", "tam", None, "Tamil"),
    ("te", "tel", None, "Telugu"),
    ("tg", "tgk", None, "Tajik"),
    ("th", "tha", None, "Thai"),
    ("ti", "tir", None, "Tigrinya"),
    ("tk", "tuk", None, "Turkmen"),
    ("tl", "tgl", None, "Tagalog"),
    ("tn", "tsn", None, "Tswana"),
    ("to", "ton", None, "Tonga"),
    ("tr", "tur", None, "Turkish"),
    ("ts", "tso", None, "Tsonga"),
    ("tt", "tat", None, "Tatar"),
    ("tw", "twi", None, "Twi"),
    ("ty", "tah", None, "Tahitian"),
    ("ug", "uig", None, "Uighur"),
    ("uk", "ukr", None, "Ukrainian"),
    ("ur", "urd", None, "Urdu"),
    ("uz", "uzb", None, "Uzbek"),
    ("ve", "ven", None, "Venda"),
    ("vi", "vie", None, "Vietnamese"),
    ("vo", "vol", None, "Volapük"),
    ("wa", "wln", None, "Walloon"),
    ("wo", "wol", None, "Wolof"),
    ("xh", "xho", None, "Xhosa"),
    ("yi", "yid", None, "Yiddish"),
    ("yo", "yor", None, "Yoruba"),
    ("za", "zha", None, "Zhuang"),
    ("zh", "zho", Some("chi"), "Chinese"),
    ("zu", "zul", None, "Zulu"),
];

/// Individual languages whose standard variety is written under a macrolanguage's 639-1 code.
const MACRO_MEMBERS: &[(&str, &str)] = &[
    ("arb", "ar"),
    ("azj", "az"),
    ("cmn", "zh"),
    ("ekk", "et"),
    ("khk", "mn"),
    ("lvs", "lv"),
    ("npi", "ne"),
    ("ory", "or"),
    ("pes", "fa"),
    ("plt", "mg"),
    ("swh", "sw"),
    ("uzn", "uz"),
    ("ydd", "yi"),
    ("zsm", "ms"),
];

/// Languages without an ISO 639-1 code that the bundled sources use (Tatoeba), with names.
/// `ber` is the ISO 639-2/5 collective code for Berber languages and `kzj` a retired 639-3
/// code (merged into `dtp`); both are kept as written because Tatoeba names its files so.
const ISO_639_3_ONLY: &[(&str, &str)] = &[
    ("ang", "Old English"),
    ("arq", "Algerian Arabic"),
    ("arz", "Egyptian Arabic"),
    ("ast", "Asturian"),
    ("awa", "Awadhi"),
    ("ber", "Berber languages"),
    ("cbk", "Chavacano"),
    ("ceb", "Cebuano"),
    ("csb", "Kashubian"),
    ("dsb", "Lower Sorbian"),
    ("dtp", "Central Dusun"),
    ("fil", "Filipino"),
    ("gsw", "Swiss German"),
    ("hsb", "Upper Sorbian"),
    ("kab", "Kabyle"),
    ("kzj", "Coastal Kadazan"),
    ("lfn", "Lingua Franca Nova"),
    ("max", "North Moluccan Malay"),
    ("mhr", "Eastern Mari"),
    ("nds", "Low German"),
    ("nov", "Novial"),
    ("orv", "Old Russian"),
    ("pam", "Pampanga"),
    ("pms", "Piemontese"),
    ("swg", "Swabian"),
    ("tzl", "Talossan"),
    ("war", "Waray"),
    ("wuu", "Wu Chinese"),
    ("yue", "Cantonese"),
];

/// Every accepted lowercase code → its canonical code, built once.
static INDEX: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    let mut index = HashMap::new();
    for &(one, t, b, _) in ISO_639_1 {
        index.insert(one, one);
        index.insert(t, one);
        if let Some(b) = b {
            index.insert(b, one);
        }
    }
    for &(member, macro_code) in MACRO_MEMBERS {
        index.insert(member, macro_code);
    }
    for &(code, _) in ISO_639_3_ONLY {
        index.insert(code, code);
    }
    index
});

/// The canonical code for `code` (ISO 639-1, 639-2/T, 639-2/B or 639-3, any letter case,
/// surrounding whitespace ignored), or `None` when the code is unknown.
pub fn canonical(code: &str) -> Option<&'static str> {
    let code = code.trim();
    if code.bytes().all(|b| b.is_ascii_lowercase()) {
        INDEX.get(code).copied()
    } else {
        INDEX.get(code.to_ascii_lowercase().as_str()).copied()
    }
}

/// Whether `code` is already in canonical form (what every table column must hold).
pub fn is_canonical(code: &str) -> bool {
    canonical(code) == Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// English name of a language (`de` → `German`): every canonical code has its row in the list.
    fn name(code: &str) -> Option<&'static str> {
        let c = canonical(code)?;
        ISO_639_1
            .iter()
            .find(|e| e.0 == c)
            .map(|e| e.3)
            .or_else(|| ISO_639_3_ONLY.iter().find(|e| e.0 == c).map(|e| e.1))
    }

    fn every_listed_code() -> impl Iterator<Item = &'static str> {
        ISO_639_1
            .iter()
            .flat_map(|e| [Some(e.0), Some(e.1), e.2])
            .flatten()
            .chain(MACRO_MEMBERS.iter().map(|e| e.0))
            .chain(ISO_639_3_ONLY.iter().map(|e| e.0))
    }

    #[test]
    fn maps_three_letter_codes() {
        assert_eq!(canonical("deu"), Some("de"));
        assert_eq!(canonical("ger"), Some("de"));
        assert_eq!(canonical("DE"), Some("de"));
        assert_eq!(canonical("cmn"), Some("zh"));
        assert_eq!(canonical("zho"), Some("zh"));
        assert_eq!(canonical("yue"), Some("yue"));
        assert_eq!(canonical("ces"), Some("cs"));
        assert_eq!(canonical(" eng "), Some("en"));
    }

    #[test]
    fn rejects_unknown() {
        for bad in ["", "x", "xx", "qqq", "english", "en-US"] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }

    #[test]
    fn canonical_is_idempotent_and_named() {
        for code in every_listed_code() {
            let c = canonical(code).unwrap_or_else(|| panic!("{code} unknown"));
            assert_eq!(canonical(c), Some(c), "{code}");
            assert!(name(c).is_some(), "{c} has no name");
        }
    }

    #[test]
    fn no_code_means_two_languages() {
        // A two- or three-letter code must not appear twice with different meanings.
        let mut seen = std::collections::HashSet::new();
        for code in every_listed_code() {
            assert!(seen.insert(code), "{code} listed twice");
        }
    }
}
