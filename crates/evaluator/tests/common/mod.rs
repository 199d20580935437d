//! Small hand-built evaluation sets shared by the integration tests.

// Each test crate compiles this module and uses only some of the sets.
#![allow(dead_code)]

use polyret_ingest::{DocRow, EvalSet, QrelRow, QueryRow};

fn query(qid: &str, lang: &str, text: &str, group: &str) -> QueryRow {
    QueryRow { qid: qid.into(), lang: lang.into(), text: text.into(), group_id: group.into(), subset: None }
}

fn doc(docid: &str, lang: &str, text: &str, group: &str) -> DocRow {
    DocRow { docid: docid.into(), lang: lang.into(), text: text.into(), group_id: group.into(), subset: None }
}

/// XQuAD-R-like: questions in three languages, one answer sentence per language relevant to
/// every copy of the question, distractors, and exact duplicates of some answers (ties).
pub fn qa_set() -> EvalSet {
    let topics = [
        ("river", "Fluss", "河流"),
        ("mountain", "Berg", "山脉"),
        ("castle", "Burg", "城堡"),
        ("harbour", "Hafen", "港口"),
        ("forest", "Wald", "森林"),
        ("bridge", "Brücke", "桥梁"),
    ];
    let mut set = EvalSet { name: "toy-qa".into(), ..Default::default() };
    for (i, (en, de, zh)) in topics.iter().enumerate() {
        let g = format!("g{i}");
        set.queries.push(query(&format!("q{i}-en"), "en", &format!("How long is the {en}?"), &g));
        set.queries.push(query(&format!("q{i}-de"), "de", &format!("Wie lang ist der {de}?"), &g));
        set.queries.push(query(&format!("q{i}-zh"), "zh", &format!("{zh}有多长？"), &g));
        for (lang, text) in
            [("en", format!("The {en} is long.")), ("de", format!("Der {de} ist lang.")), ("zh", format!("{zh}很长。"))]
        {
            let docid = format!("a{i}-{lang}");
            set.corpus.push(doc(&docid, lang, &text, &g));
            for q in ["en", "de", "zh"] {
                set.qrels.push(QrelRow { qid: format!("q{i}-{q}"), docid: docid.clone(), rel: 1 });
            }
        }
        // A non-relevant copy of the English answer: same text, same score, other docid.
        // Its id sorts before or after the relevant one, so both tie orders occur.
        let twin = if i % 2 == 0 { format!("z{i}-en") } else { format!("0{i}-en") };
        set.corpus.push(doc(&twin, "en", &format!("The {en} is long."), &format!("x{i}")));
    }
    for (j, (lang, text)) in
        [("en", "Filler text."), ("en", "Filler text."), ("de", "Irgendein Satz."), ("zh", "无关的句子。")]
            .iter()
            .enumerate()
    {
        set.corpus.push(doc(&format!("f{j}"), lang, text, "filler"));
    }
    set
}

/// Multi30K-like: one caption per image and language; a caption is both a query and a
/// document with the same id, so the query's own copy must never be retrieved, and the
/// query-language = corpus-language cells are absent.
pub fn caption_set() -> EvalSet {
    let images = [
        ("a dog runs on the grass", "ein Hund läuft auf dem Gras", "un chien court sur l'herbe"),
        ("two men play football", "zwei Männer spielen Fußball", "deux hommes jouent au football"),
        ("a red car in the street", "ein rotes Auto auf der Straße", "une voiture rouge dans la rue"),
        ("a child eats ice cream", "ein Kind isst Eis", "un enfant mange une glace"),
        ("a dog runs on the grass", "ein Hund rennt im Gras", "un chien court dans l'herbe"),
    ];
    let mut set = EvalSet { name: "toy-captions".into(), ..Default::default() };
    for (i, caps) in images.iter().enumerate() {
        let g = format!("img{i}");
        for (lang, text) in [("en", caps.0), ("de", caps.1), ("fr", caps.2)] {
            let id = format!("{g}-{lang}");
            set.queries.push(query(&id, lang, text, &g));
            set.corpus.push(doc(&id, lang, text, &g));
            for other in ["en", "de", "fr"].into_iter().filter(|o| *o != lang) {
                set.qrels.push(QrelRow { qid: id.clone(), docid: format!("{g}-{other}"), rel: 1 });
            }
        }
    }
    set
}

/// [`qa_set`] plus 200 distractors and a question whose relevant documents share no
/// character trigram with it, so that they rank below 100 in the multilingual pool.
pub fn large_set() -> EvalSet {
    let mut set = qa_set();
    set.name = "toy-qa-large".into();
    let words = ["long", "the", "river", "water", "stone", "house", "road", "light", "tower", "city"];
    for i in 0..200 {
        let text = format!("{} {} {} number {i}", words[i % 10], words[(i / 10) % 10], words[(i * 7) % 10]);
        set.corpus.push(doc(&format!("n{i:03}"), ["en", "de"][i % 2], &text, "noise"));
    }
    set.queries.push(query("q-far-en", "en", "Where is the lighthouse?", "far"));
    for (docid, lang, text) in [("a-far-zh", "zh", "灯塔在海边。"), ("a-far-el", "el", "Ο φάρος είναι κοντά.")]
    {
        set.corpus.push(doc(docid, lang, text, "far"));
        set.qrels.push(QrelRow { qid: "q-far-en".into(), docid: docid.into(), rel: 1 });
    }
    set
}
